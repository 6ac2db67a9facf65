// A TLS connection between accept and the end of its handshake. It reads the PROXY
// protocol header first when the listener expects one, drives the handshake, both under
// the listener's header timeout, then hands the socket to the codec ALPN chose:
// "h2" → the HTTP/2 codec, anything else → HTTP/1.1.
#pragma once

#include <memory>

#include "core/event_loop.h"
#include "core/socket.h"
#include "transport/client_socket.h"
#include "proxy/worker_context.h"

namespace hop::tls {
class ServerContext;
}

namespace hop::server {

class TlsAccept final : public core::IoHandler, public proxy::DownstreamConnection {
 public:
  TlsAccept(proxy::WorkerContext& ctx, int fd, const core::Address& peer, size_t listener_index,
            std::shared_ptr<const tls::ServerContext> tls);
  void on_io(uint32_t events) override;
  void drain() override { close(); }  // nothing in flight yet
  void abort() override { close(); }

 private:
  void step();
  bool read_proxy_header();
  void close();
  proxy::WorkerContext& ctx_;
  transport::ClientSocket sock_;
  core::Address peer_;
  size_t listener_index_;
  std::shared_ptr<const proxy::Snapshot> snap_;
  std::shared_ptr<const tls::ServerContext> tls_;  // keeps the SSL_CTX alive across reloads
  core::Timer timer_;
  stats::ListenerStats* open_count_ = nullptr;  // where this connection is counted open
  bool done_ = false;
  bool proxy_header_pending_ = false;
  bool peer_closed_ = false;  // FIN seen: a partial PROXY header will not be completed
};

}  // namespace hop::server
