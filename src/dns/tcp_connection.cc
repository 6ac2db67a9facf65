#include "dns/tcp_connection.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dns/server_context.h"

namespace hop::dns {

namespace {
// A client may pipeline many queries; answers wait here until the socket takes them. Past
// this we stop reading, so a client that never reads cannot make us buffer without bound.
constexpr size_t kOutputHighWater = 128 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxBufferedInput = 2 + kMaxTcpMessage + kReadChunk;
}  // namespace

TcpConnection::TcpConnection(ServerContext& ctx, int fd, const sockaddr_storage& peer)
    : ctx_(ctx), fd_(fd), peer_(peer), idle_(ctx.loop, [this] {
        ctx_.metrics.count_tcp_idle_closed();
        close();
      }) {
  idle_.arm(ctx_.cfg->tcp_idle_timeout);
}

TcpConnection::~TcpConnection() {
  if (fd_ >= 0) {
    ctx_.loop.remove(fd_);
    ::close(fd_);
  }
}

bool TcpConnection::register_with_loop() { return ctx_.loop.add(fd_, this); }

void TcpConnection::on_io(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLERR | EPOLLHUP)) return close();
  if ((events & EPOLLOUT) && out_.size() > out_start_ && !flush()) return;
  read_and_answer();
}

void TcpConnection::read_and_answer() {
  while (!closed_) {
    if (!answer_buffered()) return;  // output full: resume when the client reads
    if (draining_) {
      if (out_.size() == out_start_) close();
      return;
    }
    if (in_.size() - in_start_ >= kMaxBufferedInput) return;
    size_t old = in_.size();
    in_.resize(old + kReadChunk);
    ssize_t n = ::recv(fd_, in_.data() + old, kReadChunk, 0);
    in_.resize(old + (n > 0 ? size_t(n) : 0));
    if (n > 0) continue;  // bytes alone do not reset the idle timer: a client dribbling
                          // one byte at a time must not hold the connection forever
    if (n == 0) {
      // Half-close: answer what arrived, flush, then close (RFC 7766 §6.2.4).
      answer_buffered();
      draining_ = true;
      if (out_.size() == out_start_) close();
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) close();
    return;
  }
}

bool TcpConnection::answer_buffered() {
  while (out_.size() - out_start_ < kOutputHighWater) {
    size_t avail = in_.size() - in_start_;
    if (avail < 2) break;
    const uint8_t* p = in_.data() + in_start_;
    size_t len = size_t(p[0]) << 8 | p[1];
    if (len == 0) {
      close();  // a zero-length message is not DNS; nothing sane follows it
      return false;
    }
    if (avail < 2 + len) break;
    size_t n = ctx_.handle(p + 2, len, reinterpret_cast<const sockaddr*>(&peer_), true, ctx_.tcp_answer.get(),
                           kMaxTcpMessage);
    in_start_ += 2 + len;
    idle_.arm(ctx_.cfg->tcp_idle_timeout);  // RFC 7766 §6.2.3: idle means no complete query
    if (n > 0) {
      out_.push_back(char(n >> 8));
      out_.push_back(char(n));
      out_.append(reinterpret_cast<const char*>(ctx_.tcp_answer.get()), n);
    }
  }
  // Compact so the buffer never holds more than one partial message plus a read.
  if (in_start_ == in_.size()) {
    in_.clear();
    in_start_ = 0;
  } else if (in_start_ > kReadChunk) {
    in_.erase(in_.begin(), in_.begin() + long(in_start_));
    in_start_ = 0;
  }
  if (out_.size() > out_start_ && !flush()) return false;
  return out_.size() - out_start_ < kOutputHighWater;
}

bool TcpConnection::flush() {
  while (out_start_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_start_, out_.size() - out_start_, MSG_NOSIGNAL);
    if (n > 0) {
      out_start_ += size_t(n);
      idle_.arm(ctx_.cfg->tcp_idle_timeout);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    close();
    return false;
  }
  out_.clear();
  out_start_ = 0;
  if (draining_) {
    close();
    return false;
  }
  return true;
}

void TcpConnection::drain() {
  if (closed_) return;
  draining_ = true;
  answer_buffered();
  if (!closed_ && out_.size() == out_start_) close();
}

void TcpConnection::close() {
  if (closed_) return;
  closed_ = true;
  idle_.cancel();
  ctx_.close(this);
}

}  // namespace hop::dns
