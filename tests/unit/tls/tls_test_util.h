// Two TLS endpoints over a non-blocking socketpair, driven in turns from one thread.
#pragma once

#include <fcntl.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "tls/client_context.h"
#include "tls/server_context.h"
#include "tls/tls_stream.h"

namespace hop::tls::testing {

inline std::string cert_path(const std::string& name) { return std::string(HOP_SOURCE_DIR) + "/examples/certs/" + name; }

inline ServerConfig server_config(std::initializer_list<const char*> certs = {"localhost"}) {
  ServerConfig cfg;
  for (const char* c : certs) cfg.certificates.push_back({cert_path(std::string(c) + ".pem"), cert_path(std::string(c) + "-key.pem")});
  return cfg;
}

inline ClientConfig client_config() {
  ClientConfig cfg;
  cfg.ca_file = cert_path("ca.pem");
  return cfg;
}

struct Conn {
  std::unique_ptr<TlsStream> server, client;
  bool ok = false;  // both handshakes completed

  Conn(const ServerContext& sc, const ClientContext& cc, std::string_view host = "localhost",
       std::string_view ip = "127.0.0.1") {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return;
    server = std::make_unique<TlsStream>(sc.new_ssl(fds[0]));
    client = std::make_unique<TlsStream>(cc.new_ssl(fds[1], host, ip));
    fds_[0] = fds[0];
    fds_[1] = fds[1];
    ok = handshake();
  }
  ~Conn() {
    server.reset();
    client.reset();
    if (fds_[0] >= 0) close(fds_[0]);
    if (fds_[1] >= 0) close(fds_[1]);
  }

  bool handshake() {
    for (int i = 0; i < 100; ++i) {
      IoStatus c = client->handshake();
      IoStatus s = server->handshake();
      if (c == IoStatus::kError || s == IoStatus::kError) return false;
      if (c == IoStatus::kOk && s == IoStatus::kOk) return true;
    }
    return false;
  }

  // Sends `data` from one side to the other, reading as it goes; what arrived, or "" with
  // the failing side's status.
  static std::string transfer(TlsStream& from, TlsStream& to, const std::string& data, IoStatus* failed = nullptr) {
    std::string got;
    size_t sent = 0;
    char buf[8192];
    for (int i = 0; i < 100000 && got.size() < data.size(); ++i) {
      if (sent < data.size()) {
        auto w = from.write(data.data() + sent, data.size() - sent);
        if (w.status == IoStatus::kOk) sent += w.bytes;
        else if (w.status != IoStatus::kWantWrite && w.status != IoStatus::kWantRead) {
          if (failed) *failed = w.status;
          return "";
        }
      }
      for (;;) {
        auto r = to.read(buf, sizeof buf);
        if (r.status == IoStatus::kOk) got.append(buf, r.bytes);
        else if (r.status == IoStatus::kWantRead || r.status == IoStatus::kWantWrite) break;
        else {
          if (failed) *failed = r.status;
          return got;
        }
      }
    }
    return got;
  }

  // One request/response round trip: TLS 1.3 tickets reach the client with the first reply.
  bool exchange() {
    return transfer(*client, *server, "ping") == "ping" && transfer(*server, *client, "pong") == "pong";
  }

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace hop::tls::testing
