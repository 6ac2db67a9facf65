// The sockets a DnsServer listens on. UDP is read in batches with recvmmsg and answered with
// sendmmsg: one syscall pair per batch is what makes queries per CPU-second competitive.
#pragma once

#include <sys/socket.h>

#include <memory>

#include "core/event_loop.h"
#include "core/socket.h"

namespace hop::dns {

class ServerContext;

class UdpListener final : public core::IoHandler {
 public:
  UdpListener(ServerContext& ctx, int fd, core::Address addr);
  ~UdpListener();
  void on_io(uint32_t events) override;
  // Stops listening now; the object may still receive an event from the current epoll
  // batch, so its owner destroys it later (loop.defer).
  void close();
  const core::Address& address() const { return addr_; }
  const core::Address& configured() const { return configured_; }
  void set_configured(const core::Address& a) { configured_ = a; }
  int fd() const { return fd_; }

 private:
  struct Batch;
  ServerContext& ctx_;
  int fd_;
  core::Address addr_, configured_;
  std::unique_ptr<Batch> batch_;
};

class TcpListener final : public core::IoHandler {
 public:
  TcpListener(ServerContext& ctx, int fd, core::Address addr);
  ~TcpListener();
  void on_io(uint32_t events) override;
  // Stops listening now; the object may still receive an event from the current epoll
  // batch, so its owner destroys it later (loop.defer).
  void close();
  const core::Address& address() const { return addr_; }
  const core::Address& configured() const { return configured_; }
  void set_configured(const core::Address& a) { configured_ = a; }
  int fd() const { return fd_; }

 private:
  ServerContext& ctx_;
  int fd_;
  core::Address addr_, configured_;
  // Out of file descriptors: the listener is level-triggered, so it would wake the loop in
  // a spin; it sleeps until this timer instead.
  core::Timer resume_;
};

}  // namespace hop::dns
