#include "trace/tls_client_context.h"

#include <openssl/err.h>

namespace hop::trace {

std::string take_openssl_errors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

TlsClientContext::~TlsClientContext() {
  forget_session();
  if (ctx_) SSL_CTX_free(ctx_);
}

void TlsClientContext::forget_session() {
  if (last_session_) SSL_SESSION_free(last_session_);
  last_session_ = nullptr;
}

int TlsClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self) return 0;
  self->forget_session();
  self->last_session_ = session;
  return 1;  // we keep the reference
}

bool TlsClientContext::init(const Options& options, std::string& error) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) {
    error = "SSL_CTX_new: " + take_openssl_errors();
    return false;
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_app_data(ctx_, this);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx_, &TlsClientContext::on_new_session);
  insecure_ = options.insecure;
  SSL_CTX_set_verify(ctx_, insecure_ ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  if (!options.cacert.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, options.cacert.c_str(), nullptr) != 1) {
      error = "cannot load --cacert " + options.cacert + ": " + take_openssl_errors();
      return false;
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
    error = "cannot load the system CA store: " + take_openssl_errors();
    return false;
  }
  return true;
}

}  // namespace hop::trace
