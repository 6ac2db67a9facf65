#include "transport/client_socket.h"

#include <fcntl.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/event_loop.h"
#include "core/socket.h"
#include "core/sys_io.h"

namespace hop::transport {

namespace {
ssize_t from_tls(tls::IoResult r) {
  switch (r.status) {
    case tls::IoStatus::kOk: return static_cast<ssize_t>(r.bytes);
    case tls::IoStatus::kWantRead:
    case tls::IoStatus::kWantWrite: errno = EAGAIN; return -1;
    case tls::IoStatus::kEof: return 0;
    case tls::IoStatus::kError: errno = ECONNRESET; return -1;
  }
  return -1;
}
}  // namespace

ssize_t ClientSocket::read(char* buf, size_t len) {
  if (!tls_) return core::sys_recv(fd_, buf, len, 0);
  // One SSL_read returns at most one record. Read on until the buffer is full or OpenSSL
  // needs the socket, so that a short read means "drained" as it does for plain sockets:
  // callers stop reading on a short read and edge-triggered epoll will not tell them again.
  size_t got = 0;
  while (got < len) {
    auto r = tls_->read(buf + got, len - got);
    if (r.status == tls::IoStatus::kOk) {
      got += r.bytes;
      continue;
    }
    if (got) {
      // Report the data now and the EOF or error on the next call; pending() makes sure
      // there is one.
      end_seen_ = r.status == tls::IoStatus::kEof || r.status == tls::IoStatus::kError;
      return static_cast<ssize_t>(got);
    }
    end_seen_ = false;
    return from_tls(r);
  }
  return static_cast<ssize_t>(got);
}

void ClientSocket::before_write() {
  if (nodelay_) return;
  if (wrote_) {
    core::set_nodelay(fd_);
    nodelay_ = true;
  }
  wrote_ = true;
}

ssize_t ClientSocket::splice_from(int pipe_fd, size_t len) {
  before_write();
  // No SPLICE_F_MORE: the tail of a chunk must not wait for an upstream that is slow.
  return ::splice(pipe_fd, nullptr, fd_, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

ssize_t ClientSocket::writev(const iovec* iov, int count, bool last) {
  if (!tls_) {
    before_write();
    if (!last) return core::sys_writev(fd_, iov, count);
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<size_t>(count);
    return core::sys_sendmsg(fd_, &msg, MSG_MORE | MSG_NOSIGNAL);
  }
  ssize_t n = from_tls(tls_->writev(iov, count));
  if (n == 0) {  // EOF while writing: the peer is gone
    errno = EPIPE;
    return -1;
  }
  return n;
}

void ClientSocket::shutdown_write() {
  if (tls_) tls_->shutdown();
  ::shutdown(fd_, SHUT_WR);
}

bool ClientSocket::watch(core::EventLoop& loop, core::IoHandler* handler) {
  if (registered_) return loop.modify(fd_, handler, core::EventLoop::kDefaultEvents);
  registered_ = loop.add(fd_, handler);
  return registered_;
}

void ClientSocket::close() {
  if (fd_ < 0) return;
  tls_.reset();
  ::close(fd_);
  fd_ = -1;
  registered_ = false;
}

}  // namespace hop::transport
