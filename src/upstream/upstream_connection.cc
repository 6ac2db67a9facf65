#include "upstream/upstream_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "upstream/pool.h"

namespace hop::upstream {

UpstreamConnection::UpstreamConnection(UpstreamPool& pool, core::EventLoop& loop, core::BufferPool& buffers,
                                       size_t buffer_size)
    : pool_(pool), loop_(loop), in_(buffers, buffer_size), timer_(loop, [this] { pool_.on_timer(*this); }) {}

UpstreamConnection::~UpstreamConnection() {
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
  size_t room = in_.writable();
  if (room == 0) return 0;
  ssize_t n = ::recv(fd_, in_.write_ptr(), room, 0);
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

}  // namespace hop::upstream
