// A listener's TLS configuration as OpenSSL objects: one SSL_CTX per certificate (chosen by
// SNI at the ClientHello), ALPN selection, tickets from a shared key ring, a session cache,
// optional client-certificate verification. Built by the control thread on every (re)load
// and shared read-only by the workers; connections accepted before a reload keep the old
// context alive through their SSL objects.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tls/ticket_keys.h"
#include "tls/tls_config.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hop::tls {

class ServerContext {
 public:
  // nullptr with `error` ("cert.pem: no such file", "key does not match certificate").
  static std::shared_ptr<const ServerContext> create(const ServerConfig& cfg, bool offer_h2,
                                                     std::shared_ptr<TicketKeyRing> tickets, std::string& error);
  ~ServerContext();

  // A new server-side SSL on `fd` in accept state; nullptr on allocation failure. The
  // context's callbacks (SNI, ALPN) run during the handshake: hold the context until then.
  SSL* new_ssl(int fd) const;
  const ServerConfig& config() const { return cfg_; }

 private:
  ServerContext() = default;
  ServerConfig cfg_;
  std::vector<std::string> alpn_;  // what this listener offers, preference order
  std::shared_ptr<TicketKeyRing> tickets_;
  struct Cert {
    SSL_CTX* ctx = nullptr;
    std::vector<std::string> names;  // DNS SANs (and the CN when there are none), "*.x" wildcards
  };
  std::vector<Cert> certs_;  // [0] = default, also the context new SSLs start from
  friend struct ServerContextCallbacks;
};

}  // namespace hop::tls
