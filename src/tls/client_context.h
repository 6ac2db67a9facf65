// TLS toward upstream hosts of one cluster: CA verification, SNI, optional client
// certificate, the ALPN its caller chose. Built by the control thread per (re)load,
// shared read-only by workers. OpenSSL's client session cache lets reconnections resume.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tls/tls_config.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hop::tls {

class ClientContext {
 public:
  static std::shared_ptr<const ClientContext> create(const ClientConfig& cfg, ClientAlpn alpn, std::string& error);
  ~ClientContext();

  // A new client SSL on `fd` in connect state, with SNI and name verification set for
  // `server_name` (the cluster's sni, else the host's DNS name; "" for an IP host sends no
  // SNI and verifies the IP address against the certificate).
  // http1_only: offer only "http/1.1" in ALPN whatever the context offers (the
  // HTTP/1.1 pool of an `auto` cluster must not end up with a host that chose h2).
  SSL* new_ssl(int fd, std::string_view host_name, std::string_view host_ip, bool http1_only = false) const;

 private:
  ClientContext() = default;
  ClientConfig cfg_;
  SSL_CTX* ctx_ = nullptr;
};

}  // namespace hop::tls
