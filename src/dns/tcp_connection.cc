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
}  // namespace

TcpConnection::TcpConnection(ServerContext& ctx, int fd, const sockaddr_storage& peer)
    : ctx_(ctx), fd_(fd), peer_(peer),
      idle_(ctx.loop, [this] {
        ctx_.metrics.count_tcp_idle_closed();
        close();
      }),
      resume_(ctx.loop, [this] { pump(); }) {
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
  pump();
}

// Answers what is buffered (in order, output bounded), writes, reads, until the socket
// would block or the connection ends. Sockets are edge-triggered, so every exit either
// waits for an event that will come (EAGAIN on read or write) or arms resume_.
void TcpConnection::pump() {
  uint32_t answered = 0;
  const uint32_t budget = ctx_.cfg->tcp_max_pipelined;
  while (!closed_) {
    while (pending_out() < kOutputHighWater && answered < budget && complete_query_buffered()) {
      if (!answer_one()) return;
      ++answered;
    }
    if (!flush()) return;
    if (pending_out() > 0) return;  // the client is not reading: EPOLLOUT resumes
    if (complete_query_buffered()) {
      if (answered < budget) continue;
      resume_.arm(core::Millis(0));  // its share of the worker is used: others go first
      return;
    }
    if (eof_ || draining_) {  // everything received is answered and written
      close();
      return;
    }
    size_t old = in_.size();
    in_.resize(old + kReadChunk);
    ssize_t n = ::recv(fd_, in_.data() + old, kReadChunk, 0);
    in_.resize(old + (n > 0 ? size_t(n) : 0));
    // Bytes alone do not reset the idle timer: a client dribbling one byte at a time must
    // not hold the connection forever (RFC 7766 §6.2.3: idle means no complete query).
    if (n > 0) continue;
    if (n == 0) {
      eof_ = true;  // half-close: answer what arrived, flush, then close (RFC 7766 §6.2.4)
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) close();
    return;
  }
}

bool TcpConnection::complete_query_buffered() const {
  size_t avail = in_.size() - in_start_;
  if (avail < 2) return false;
  size_t len = size_t(in_[in_start_]) << 8 | in_[in_start_ + 1];
  return avail >= 2 + len;
}

bool TcpConnection::answer_one() {
  const uint8_t* p = in_.data() + in_start_;
  size_t len = size_t(p[0]) << 8 | p[1];
  if (len == 0) {
    close();  // a zero-length message is not DNS; nothing sane follows it
    return false;
  }
  size_t n = ctx_.handle(p + 2, len, reinterpret_cast<const sockaddr*>(&peer_), true, ctx_.tcp_answer.get(),
                         kMaxTcpMessage);
  in_start_ += 2 + len;
  idle_.arm(ctx_.cfg->tcp_idle_timeout);
  if (n > 0) {
    out_.push_back(char(n >> 8));
    out_.push_back(char(n));
    out_.append(reinterpret_cast<const char*>(ctx_.tcp_answer.get()), n);
  }
  // Compact so the buffer never holds more than one partial message plus a read.
  if (in_start_ == in_.size()) {
    in_.clear();
    in_start_ = 0;
  } else if (in_start_ > kReadChunk) {
    in_.erase(in_.begin(), in_.begin() + long(in_start_));
    in_start_ = 0;
  }
  return true;
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
  return true;
}

void TcpConnection::drain() {
  if (closed_) return;
  draining_ = true;
  pump();
}

void TcpConnection::close() {
  if (closed_) return;
  closed_ = true;
  idle_.cancel();
  resume_.cancel();
  ctx_.close(this);
}

}  // namespace hop::dns
