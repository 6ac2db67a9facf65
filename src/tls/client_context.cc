#include "tls/client_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <map>
#include <mutex>

#include "tls/cert_check.h"
#include "tls/openssl_util.h"

namespace hop::tls {

namespace {

// The newest session per upstream name, so a reconnection to that host resumes (one
// round trip less, no certificate chain). It hangs off the SSL_CTX, not the ClientContext:
// TLS 1.3 tickets arrive after the handshake, on connections that may outlive a reload's
// ClientContext but still hold its SSL_CTX.
struct SessionCache {
  std::mutex mu;
  std::map<std::string, SSL_SESSION*, std::less<>> last;
  ~SessionCache() {
    for (auto& [k, s] : last) SSL_SESSION_free(s);
  }
  SSL_SESSION* get(std::string_view key) {  // a new reference, or nullptr
    std::lock_guard<std::mutex> g(mu);
    auto it = last.find(key);
    if (it == last.end()) return nullptr;
    SSL_SESSION_up_ref(it->second);
    return it->second;
  }
  void put(const std::string& key, SSL_SESSION* s) {  // takes the reference
    std::lock_guard<std::mutex> g(mu);
    auto& slot = last[key];
    if (slot) SSL_SESSION_free(slot);
    slot = s;
  }
};

void free_cache(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SessionCache*>(ptr); }
void free_key(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int cache_index() {
  static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_cache);
  return idx;
}
int key_index() {  // the SSL's cache key: the name it verifies, or the IP
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_key);
  return idx;
}

int on_new_session(SSL* ssl, SSL_SESSION* sess) {
  auto* cache = static_cast<SessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cache_index()));
  auto* key = static_cast<std::string*>(SSL_get_ex_data(ssl, key_index()));
  if (!cache || !key || !SSL_SESSION_is_resumable(sess)) return 0;
  cache->put(*key, sess);
  return 1;  // we keep the reference
}

}  // namespace

std::shared_ptr<const ClientContext> ClientContext::create(const ClientConfig& cfg, ClientAlpn alpn_offer,
                                                           std::string& error) {
  std::shared_ptr<ClientContext> cc(new ClientContext());
  cc->cfg_ = cfg;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    error = openssl_error("SSL_CTX_new");
    return nullptr;
  }
  cc->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, cfg.min_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_cipher_list(ctx, kDefaultCiphers12);

  if (cfg.verify) {
    if (!cfg.ca_file.empty()) {
      if (std::string e = check_ca_file(cfg.ca_file); !e.empty()) {
        error = e;
        return nullptr;
      }
      if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1) {
        error = openssl_error(cfg.ca_file);
        return nullptr;
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      error = openssl_error("system trust store");
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  if (!cfg.cert_file.empty()) {
    if (std::string e = check_cert_pair(cfg.cert_file, cfg.key_file); !e.empty()) {
      error = e;
      return nullptr;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = openssl_error(cfg.cert_file);
      return nullptr;
    }
  }

  // ALPN wire format: length-prefixed protocol names.
  std::string alpn;
  switch (alpn_offer) {
    case ClientAlpn::kH2: alpn = std::string("\x02h2", 3); break;
    case ClientAlpn::kH2OrHttp1: alpn = std::string("\x02h2\x08http/1.1", 12); break;
    case ClientAlpn::kHttp1: alpn = std::string("\x08http/1.1", 9); break;
  }
  if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(alpn.data()), alpn.size()) != 0) {
    error = openssl_error("ALPN");
    return nullptr;
  }

  // Client-side cache with no internal store: sessions are kept by name in SessionCache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_set_ex_data(ctx, cache_index(), new SessionCache());
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  ERR_clear_error();
  return cc;
}

ClientContext::~ClientContext() { SSL_CTX_free(ctx_); }

SSL* ClientContext::new_ssl(int fd, std::string_view host_name, std::string_view host_ip, bool http1_only) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (http1_only && SSL_set_alpn_protos(ssl, kHttp11, sizeof kHttp11) != 0) {
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  std::string name(cfg_.sni.empty() ? host_name : std::string_view(cfg_.sni));
  bool ok = SSL_set_fd(ssl, fd) == 1;
  bool name_is_ip = !name.empty() && is_ip_literal(name);
  if (ok && !name.empty() && !name_is_ip) ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;  // RFC 6066 §3: no IPs
  if (ok && cfg_.verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    // Wildcards match a single whole label only.
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!name.empty() && !name_is_ip) ok = SSL_set1_host(ssl, name.c_str()) == 1;
    else ok = X509_VERIFY_PARAM_set1_ip_asc(param, name_is_ip ? name.c_str() : std::string(host_ip).c_str()) == 1;
  }
  std::string key = name.empty() ? std::string(host_ip) : name;
  if (ok) ok = SSL_set_ex_data(ssl, key_index(), new std::string(key)) == 1;
  if (!ok) {
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  auto* cache = static_cast<SessionCache*>(SSL_CTX_get_ex_data(ctx_, cache_index()));
  if (SSL_SESSION* s = cache ? cache->get(key) : nullptr) {
    SSL_set_session(ssl, s);  // takes its own reference
    SSL_SESSION_free(s);
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

}  // namespace hop::tls
