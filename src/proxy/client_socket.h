// A client's socket, cleartext or TLS, with recv/writev semantics so the connection code is
// the same for both: read() returns bytes, 0 at EOF, or -1 with errno (EAGAIN = would
// block); writev() returns bytes or -1 with errno.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <memory>

#include "tls/tls_stream.h"

namespace hop::proxy {

class ClientSocket {
 public:
  ClientSocket() = default;
  explicit ClientSocket(int fd, std::unique_ptr<tls::TlsStream> tls = {}) : fd_(fd), tls_(std::move(tls)) {}
  // Moving hands the socket over: the moved-from object no longer owns (or closes) it.
  ClientSocket(ClientSocket&& o) noexcept : fd_(o.fd_), tls_(std::move(o.tls_)), end_seen_(o.end_seen_) {
    o.fd_ = -1;
  }
  ClientSocket& operator=(ClientSocket&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.fd_;
      tls_ = std::move(o.tls_);
      end_seen_ = o.end_seen_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~ClientSocket() = default;  // owners close explicitly (after removing the fd from epoll)

  int fd() const { return fd_; }
  bool is_tls() const { return tls_ != nullptr; }
  tls::TlsStream* tls() const { return tls_.get(); }

  ssize_t read(char* buf, size_t len);
  ssize_t writev(const iovec* iov, int count);
  // TLS: decrypted bytes wait inside the session; read() returns them with no socket event.
  bool pending() const { return tls_ && (end_seen_ || tls_->pending()); }
  // Stops sending (TLS: close_notify first); reading goes on (lingering close).
  void shutdown_write();
  void close();

 private:
  int fd_ = -1;
  std::unique_ptr<tls::TlsStream> tls_;
  bool end_seen_ = false;  // TLS: EOF or error met after returning data; next read reports it
};

}  // namespace hop::proxy
