#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "tls/cert_check.h"
#include "tls/openssl_util.h"

namespace hop::tls {

namespace {

constexpr const char* kSuites13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> sni_names(X509* cert) {
  std::vector<std::string> out;
  for (auto& n : cert_names(cert))
    if (!is_ip_literal(n)) out.push_back(lower(n));
  if (out.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
      out.push_back(lower(cn));
  }
  return out;
}

// Resumption is only safe between contexts that would verify the client the same way: a
// session made without a client certificate must not resume on a listener that now demands
// one (tickets survive reloads with the key ring). OpenSSL refuses sessions whose context
// differs, so the context is a digest of everything client verification depends on.
bool set_session_id_context(SSL_CTX* ctx, const ServerConfig& cfg) {
  std::string material = "hop/1|" + cfg.client_ca_file + "|" + (cfg.client_cert_required ? "req" : "opt") + "|";
  if (!cfg.client_ca_file.empty()) {
    std::ifstream in(cfg.client_ca_file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    material += ss.str();
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(material.data(), material.size(), md, &len, EVP_sha256(), nullptr) != 1) return false;
  return SSL_CTX_set_session_id_context(ctx, md, std::min<unsigned int>(len, SSL_MAX_SID_CTX_LENGTH)) == 1;
}

}  // namespace

struct ServerContextCallbacks {
  // The server's preference decides (RFC 7301 §3.2 leaves it to the server); with no
  // protocol in common the handshake goes on without ALPN, which clients read as HTTP/1.1,
  // rather than failing with no_application_protocol.
  static int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                         unsigned int inlen, void* arg) {
    const auto* self = static_cast<const ServerContext*>(arg);
    for (const auto& mine : self->alpn_) {
      for (unsigned int i = 0; i < inlen;) {
        unsigned int len = in[i];
        if (i + 1 + len > inlen) break;
        if (len == mine.size() && memcmp(in + i + 1, mine.data(), len) == 0) {
          *out = in + i + 1;
          *outlen = static_cast<unsigned char>(len);
          return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
      }
    }
    return SSL_TLSEXT_ERR_NOACK;
  }

  // Exact names first, then a wildcard covering exactly one label ("*.hop.test" matches
  // "a.hop.test", not "a.b.hop.test"); no match keeps the default certificate.
  static int servername(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const ServerContext*>(arg);
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!sni || self->certs_.size() < 2) return SSL_TLSEXT_ERR_OK;
    std::string name = lower(sni);
    const ServerContext::Cert* pick = nullptr;
    for (const auto& c : self->certs_)
      if (!pick && std::find(c.names.begin(), c.names.end(), name) != c.names.end()) pick = &c;
    size_t dot = name.find('.');
    if (!pick && dot != std::string::npos && dot > 0) {
      std::string wild(1, '*');
      wild.append(name, dot);
      for (const auto& c : self->certs_)
        if (!pick && std::find(c.names.begin(), c.names.end(), wild) != c.names.end()) pick = &c;
    }
    if (pick && pick->ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, pick->ctx);
    return SSL_TLSEXT_ERR_OK;
  }
};

std::shared_ptr<const ServerContext> ServerContext::create(const ServerConfig& cfg, bool offer_h2,
                                                           std::shared_ptr<TicketKeyRing> tickets, std::string& error) {
  if (cfg.certificates.empty()) {
    error = "no certificate";
    return nullptr;
  }
  std::shared_ptr<ServerContext> sc(new ServerContext());
  sc->cfg_ = cfg;
  sc->tickets_ = tickets ? std::move(tickets) : std::make_shared<TicketKeyRing>();
  for (const auto& p : cfg.alpn)
    if (offer_h2 || p != "h2") sc->alpn_.push_back(p);

  if (!cfg.client_ca_file.empty()) {
    if (std::string e = check_ca_file(cfg.client_ca_file); !e.empty()) {
      error = e;
      return nullptr;
    }
  }

  for (const auto& tc : cfg.certificates) {
    if (std::string e = check_cert_pair(tc.cert_file, tc.key_file); !e.empty()) {
      error = e;
      return nullptr;
    }
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
      error = openssl_error("SSL_CTX_new");
      return nullptr;
    }
    sc->certs_.push_back({ctx, {}});  // owned from here on: freed by ~ServerContext
    SSL_CTX_set_min_proto_version(ctx, cfg.min_version);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                 (cfg.session_tickets ? 0 : SSL_OP_NO_TICKET));
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);  // idle keep-alive connections hold no record buffers
    if (SSL_CTX_set_cipher_list(ctx, cfg.ciphers.empty() ? kDefaultCiphers12 : cfg.ciphers.c_str()) != 1) {
      error = openssl_error("ciphers '" + cfg.ciphers + "'");
      return nullptr;
    }
    SSL_CTX_set_ciphersuites(ctx, kSuites13);
    SSL_CTX_set1_groups_list(ctx, kGroups);
    // 0-RTT data can be replayed by anyone who saw it; hop has no per-route opt-in for that.
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_recv_max_early_data(ctx, 0);

    if (SSL_CTX_use_certificate_chain_file(ctx, tc.cert_file.c_str()) != 1) {
      error = openssl_error(tc.cert_file);
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, tc.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      error = openssl_error(tc.key_file);
      return nullptr;
    }
    sc->certs_.back().names = sni_names(SSL_CTX_get0_certificate(ctx));

    // Sessions: one cache per listener (the default context's, which OpenSSL consults
    // whichever certificate SNI picked), tickets from the shared ring.
    if (cfg.session_cache_size == 0) {
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // OpenSSL reads a size of 0 as unlimited
    } else {
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
      SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(cfg.session_cache_size));
    }
    SSL_CTX_set_timeout(ctx, static_cast<long>(std::max<int64_t>(1, cfg.session_lifetime.count() / 1000)));
    if (!set_session_id_context(ctx, cfg)) {
      error = openssl_error("session id context");
      return nullptr;
    }
    if (cfg.session_tickets) sc->tickets_->install(ctx);

    if (!cfg.client_ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, cfg.client_ca_file.c_str(), nullptr) != 1) {
        error = openssl_error(cfg.client_ca_file);
        return nullptr;
      }
      // CertificateRequest lists the acceptable CAs so clients pick the right certificate.
      STACK_OF(X509_NAME)* ca_names = SSL_load_client_CA_file(cfg.client_ca_file.c_str());
      if (ca_names) SSL_CTX_set_client_CA_list(ctx, ca_names);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (cfg.client_cert_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                         nullptr);
    }
    SSL_CTX_set_alpn_select_cb(ctx, ServerContextCallbacks::select_alpn, sc.get());
    SSL_CTX_set_tlsext_servername_callback(ctx, ServerContextCallbacks::servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, sc.get());
  }
  ERR_clear_error();
  return sc;
}

ServerContext::~ServerContext() {
  for (auto& c : certs_) SSL_CTX_free(c.ctx);
}

SSL* ServerContext::new_ssl(int fd) const {
  SSL* ssl = SSL_new(certs_[0].ctx);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace hop::tls
