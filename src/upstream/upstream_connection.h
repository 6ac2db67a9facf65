// One TCP connection to an upstream host, owned by its worker's pool. While a request uses
// it, readiness goes to that request's exchange (the UpstreamUser); while idle, the pool
// watches it so a close by the upstream is noticed before anyone reuses it.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/socket.h"

namespace hop::tls {
class TlsStream;
}

namespace hop::upstream {

class UpstreamPool;
class UpstreamConnection;

class UpstreamUser {
 public:
  virtual void on_upstream_io(UpstreamConnection& c, uint32_t events) = 0;

 protected:
  ~UpstreamUser() = default;
};

class UpstreamConnection final : public core::IoHandler {
 public:
  enum class State { kConnecting, kIdle, kBusy, kClosed };

  UpstreamConnection(UpstreamPool& pool, core::EventLoop& loop, core::BufferPool& buffers, size_t buffer_size);
  ~UpstreamConnection();

  void on_io(uint32_t events) override;

  int fd() const { return fd_; }
  State state() const { return state_; }
  core::Buffer& in() { return in_; }
  uint64_t requests() const { return requests_; }
  bool reused() const { return requests_ > 1; }  // the current request is not its first
  UpstreamPool& pool() { return pool_; }
  void attach(UpstreamUser* user) { user_ = user; }

  // Reads into in(): >0 bytes, 0 = would block / EOF (see eof()) / buffer full, <0 = error
  // (errno). Through TLS when the pool has it; a short read means drained either way (TLS
  // reads until the buffer is full or OpenSSL wants the socket, as edge-triggered epoll
  // will not announce bytes OpenSSL already holds).
  ssize_t read_into_buffer();
  bool eof() const { return eof_; }
  // Cleartext only: moves up to len bytes from the socket into a pipe (splice(2)), past
  // in(), which must be empty. Like read_into_buffer: >0 bytes, 0 = would block or EOF
  // (see eof()), <0 = error.
  ssize_t splice_to(int pipe_fd, size_t len);
  // Writes as much of the vector as the socket takes: bytes, or -1 with errno (EAGAIN when
  // full), like sendmsg with MSG_NOSIGNAL — through TLS when the pool has it.
  ssize_t writev(const iovec* iov, int count);
  // Stops sending (TLS: close_notify first); reading goes on. For tunnels passing on a
  // client's half-close.
  void shutdown_write();
  bool tls() const { return tls_ != nullptr; }
  // Plaintext that OpenSSL decrypted and hop has not read yet: bytes past a response.
  bool tls_pending() const;

 private:
  friend class UpstreamPool;
  ssize_t read_tls();
  bool discard_idle_tls_records();  // false: the idle connection got data or an error

  UpstreamPool& pool_;
  core::EventLoop& loop_;
  int fd_ = -1;
  State state_ = State::kConnecting;
  UpstreamUser* user_ = nullptr;
  core::Buffer in_;
  core::Timer timer_;  // connect timeout while connecting, idle timeout while idle
  uint64_t requests_ = 0;
  bool eof_ = false;
  std::unique_ptr<tls::TlsStream> tls_;  // null = cleartext
  bool handshaking_ = false;             // connected, TLS handshake running (still kConnecting)
  bool tls_failed_ = false;              // a TLS error after bytes were returned: next read fails
  // Intrusive links for the pool's idle list.
  UpstreamConnection* prev_ = nullptr;
  UpstreamConnection* next_ = nullptr;
};

}  // namespace hop::upstream
