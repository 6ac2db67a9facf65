// TLS settings as plain data: what a listener's `tls:` and a cluster's `tls:` say. They
// live here rather than in config/ so that tls/ needs nothing above it: config/config.h
// includes this header, and the contexts built from these settings never see the rest of
// the configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hop::tls {

// One certificate chain and its key. The first of a listener's certificates is the default;
// the others are chosen by SNI against the names in their subjectAltName.
struct Certificate {
  std::string cert_file;  // PEM chain, leaf first; resolved against the config file's folder
  std::string key_file;
};

// TLS termination on a listener (OpenSSL). 0-RTT is never accepted: replayable early data
// needs per-route opt-in that hop does not have.
struct ServerConfig {
  std::vector<Certificate> certificates;
  std::vector<std::string> alpn = {"h2", "http/1.1"};  // server preference order
  int min_version = 0x0303;                            // TLS1_2_VERSION; 0x0304 = TLS 1.3 only
  std::string ciphers;                                 // TLS 1.2 cipher list; "" = hop's modern default
  bool session_tickets = true;
  std::chrono::milliseconds ticket_key_rotation{std::chrono::hours(12)};  // keys shared by all workers
  // Ticket keys from files (80 bytes each, nginx's layout: `openssl rand 80`), for several
  // hop processes behind one address: the first encrypts, all decrypt, no rotation by hop
  // (replace the files and reload). Empty: random keys kept in memory and rotated.
  std::vector<std::string> ticket_key_files;
  uint64_t session_cache_size = 20480;  // server-side cache (session IDs, TLS 1.2)
  std::chrono::milliseconds session_lifetime{std::chrono::hours(12)};
  std::string client_ca_file;        // mTLS: verify client certificates against this CA bundle
  bool client_cert_required = true;  // with client_ca_file: reject clients without one
};

// TLS toward the hosts of a cluster (re-encryption, mTLS to backends).
struct ClientConfig {
  std::string sni;        // server name sent and verified; "" = the host's DNS name, none for IPs
  bool verify = true;     // verify the upstream's chain and name
  std::string ca_file;    // "" = the system's trust store
  std::string cert_file;  // client certificate (mTLS); with key_file
  std::string key_file;
  int min_version = 0x0303;
};

// What a client offers in ALPN (RFC 7301), most preferred first. The caller decides it from
// what it will speak over the connection (a cluster's protocol).
enum class ClientAlpn {
  kHttp1,      // "http/1.1"
  kH2,         // "h2"
  kH2OrHttp1,  // "h2", "http/1.1": the server chooses
};

}  // namespace hop::tls
