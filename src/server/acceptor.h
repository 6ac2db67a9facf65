// Accepts on one listening socket and hands each connection to a factory. Stops accepting
// (without closing the socket) while the worker is at its connection limit.
#pragma once

#include <functional>

#include "core/event_loop.h"
#include "server/listener_socket.h"

namespace hop::server {

class Acceptor final : public core::IoHandler {
 public:
  using OnAccept = std::function<void(int fd, const core::Address& peer)>;
  Acceptor(core::EventLoop& loop, ListenerSocket sock, OnAccept on_accept, std::function<bool()> at_limit);
  ~Acceptor();
  void on_io(uint32_t events) override;
  // Called when a connection closes under the limit, to resume an accept loop that paused.
  void resume() { on_io(0x001); }
  const ListenerSocket& socket() const { return sock_; }

 private:
  core::EventLoop& loop_;
  ListenerSocket sock_;
  OnAccept on_accept_;
  std::function<bool()> at_limit_;
};

}  // namespace hop::server
