// A client's socket, cleartext or TLS, with recv/writev semantics so the connection code is
// the same for both: read() returns bytes, 0 at EOF, or -1 with errno (EAGAIN = would
// block); writev() returns bytes or -1 with errno.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <memory>

#include "tls/tls_stream.h"

namespace hop::core {
class EventLoop;
class IoHandler;
}  // namespace hop::core

namespace hop::transport {

class ClientSocket {
 public:
  ClientSocket() = default;
  explicit ClientSocket(int fd, std::unique_ptr<tls::TlsStream> tls = {}) : fd_(fd), tls_(std::move(tls)) {}
  // Moving hands the socket over: the moved-from object no longer owns (or closes) it.
  ClientSocket(ClientSocket&& o) noexcept
      : fd_(o.fd_), tls_(std::move(o.tls_)), end_seen_(o.end_seen_), registered_(o.registered_),
        wrote_(o.wrote_), nodelay_(o.nodelay_) {
    o.fd_ = -1;
  }
  ClientSocket& operator=(ClientSocket&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.fd_;
      tls_ = std::move(o.tls_);
      end_seen_ = o.end_seen_;
      registered_ = o.registered_;
      wrote_ = o.wrote_;
      nodelay_ = o.nodelay_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~ClientSocket() = default;  // owners close explicitly

  int fd() const { return fd_; }
  bool is_tls() const { return tls_ != nullptr; }
  tls::TlsStream* tls() const { return tls_.get(); }

  ssize_t read(char* buf, size_t len);
  // `last`: nothing follows these bytes but the close. A cleartext socket then holds them
  // back (MSG_MORE) so that the FIN leaves in the same segment as the end of the response:
  // one packet less through the stack per short-lived connection. Only for a caller that
  // closes or shuts down the socket right after: that is what sends the held bytes.
  ssize_t writev(const iovec* iov, int count, bool last = false);
  // Cleartext only: moves up to len bytes from a pipe to the socket (splice(2)), with the
  // same Nagle handling as writev(). Bytes, or -1 with errno (EAGAIN: the socket is full).
  ssize_t splice_from(int pipe_fd, size_t len);
  // TLS: decrypted bytes wait inside the session; read() returns them with no socket event.
  bool pending() const { return tls_ && (end_seen_ || tls_->pending()); }
  // Stops sending (TLS: close_notify first); reading goes on (lingering close).
  void shutdown_write();
  // Closing also takes the socket off the event loop: hop never forks or dups client
  // sockets, so the fd is the only reference to the file and the kernel drops its epoll
  // registration with it (no EPOLL_CTL_DEL).
  void close();

  // Points the loop's events for this socket at `handler`, registering the socket on first
  // use. A connection registers only once it has to wait for its client: one whose request
  // was already there at accept and that is closed after its answer never costs an
  // epoll_ctl. Registration is edge-triggered and reports readiness that predates it.
  bool watch(core::EventLoop& loop, core::IoHandler* handler);
  bool registered() const { return registered_; }
  // The fd was put on the loop by its previous owner (watch() will then re-point it).
  void mark_registered() { registered_ = true; }

 private:
  void before_write();  // Nagle off before the second write (see nodelay_)

  int fd_ = -1;
  std::unique_ptr<tls::TlsStream> tls_;
  bool end_seen_ = false;  // TLS: EOF or error met after returning data; next read reports it
  bool registered_ = false;
  // Nagle is switched off before the second write on a cleartext socket: a connection
  // answered in one writev and closed never needs it (one setsockopt less per connection),
  // and any later small write goes out at once. TLS sockets get it at accept, before the
  // handshake's flights.
  bool wrote_ = false;
  bool nodelay_ = false;
};

}  // namespace hop::transport
