#include "upstream/upstream_connection.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "core/sys_io.h"
#include "tls/tls_stream.h"
#include "upstream/pool.h"

namespace hop::upstream {

UpstreamConnection::UpstreamConnection(UpstreamPool& pool, core::EventLoop& loop, core::BufferPool& buffers,
                                       size_t buffer_size)
    : pool_(pool), loop_(loop), in_(buffers, buffer_size), timer_(loop, [this] { pool_.on_timer(*this); }) {}

UpstreamConnection::~UpstreamConnection() {
  tls_.reset();
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
}

void UpstreamConnection::on_io(uint32_t events) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kBusy && user_) user_->on_upstream_io(*this, events);
  else pool_.on_connection_event(*this, events);
}

ssize_t UpstreamConnection::read_into_buffer() {
  if (tls_) return read_tls();
  size_t room = in_.writable();
  if (room == 0) return 0;
  ssize_t n = core::sys_recv(fd_, in_.write_ptr(), room, 0);
  if (n > 0) {
    in_.commit(static_cast<size_t>(n));
    return n;
  }
  if (n == 0) {
    eof_ = true;
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  return -1;
}

ssize_t UpstreamConnection::splice_to(int pipe_fd, size_t len) {
  ssize_t n = ::splice(fd_, nullptr, pipe_fd, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) return n;
  if (n == 0) {
    eof_ = true;
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  return -1;
}

ssize_t UpstreamConnection::read_tls() {
  if (tls_failed_) {
    errno = ECONNRESET;
    return -1;
  }
  if (eof_) return 0;
  size_t total = 0;
  for (;;) {
    size_t room = in_.writable();
    if (room == 0) break;
    tls::IoResult r = tls_->read(in_.write_ptr(), room);
    if (r.status == tls::IoStatus::kOk) {
      in_.commit(r.bytes);
      total += r.bytes;
      continue;
    }
    if (r.status == tls::IoStatus::kWantRead || r.status == tls::IoStatus::kWantWrite) break;
    if (r.status == tls::IoStatus::kEof) {
      eof_ = true;
      break;
    }
    // The reason is logged as for a failed handshake: after a TLS 1.3 handshake the
    // upstream's refusal of our client certificate arrives here, as an alert, and the
    // request only sees a reset.
    HOP_LOG_WARN("upstream {}: TLS read failed: {}", pool_.name(), tls_->error());
    if (total) {
      tls_failed_ = true;  // hand over what arrived first; the error comes with the next read
      break;
    }
    errno = ECONNRESET;
    return -1;
  }
  return static_cast<ssize_t>(total);
}

void UpstreamConnection::shutdown_write() {
  if (tls_) tls_->shutdown();
  ::shutdown(fd_, SHUT_WR);
}

ssize_t UpstreamConnection::writev(const iovec* iov, int count) {
  if (tls_) {
    tls::IoResult r = tls_->writev(iov, count);
    if (r.status == tls::IoStatus::kOk) return static_cast<ssize_t>(r.bytes);
    errno = r.status == tls::IoStatus::kWantWrite || r.status == tls::IoStatus::kWantRead ? EAGAIN : ECONNRESET;
    return -1;
  }
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count);
  return core::sys_sendmsg(fd_, &msg, MSG_NOSIGNAL);
}

bool UpstreamConnection::discard_idle_tls_records() {
  // TLS 1.3 servers send NewSessionTicket after the handshake, often while the connection
  // already sits idle; SSL_read consumes them and reports WANT_READ. Application bytes or
  // an alert on an idle connection mean it cannot be trusted with a request.
  char scrap[256];
  tls::IoResult r = tls_->read(scrap, sizeof scrap);
  return r.status == tls::IoStatus::kWantRead || r.status == tls::IoStatus::kWantWrite;
}

bool UpstreamConnection::tls_pending() const { return tls_ && tls_->pending(); }

}  // namespace hop::upstream
