#include "backend/backend_connection.h"

#include "backend/h2_backend.h"
#include "backend/response_plan.h"
#include "http/h2_preface.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace hop::backend {


BackendConnection::BackendConnection(BackendContext& ctx, int fd, const core::Address& peer)
    : ctx_(ctx), fd_(fd), peer_ip_(peer.host()), in_(ctx.buffers, ctx.buffers.block_size()),
      timer_(ctx.loop, [this] {
        if (phase_ == Phase::kDelay) {
          respond();
          progress();
        }
      }),
      resume_(ctx.loop, [this] { progress(); }) {
  ++ctx_.open_connections;
  ctx_.connections.insert(this);
  core::set_nodelay(fd_);
  ctx_.loop.add(fd_, this);
}

void BackendConnection::on_io(uint32_t events) {
  if (phase_ == Phase::kClosed) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) hup_ = true;
  if (events & EPOLLOUT) writable_ = true;
  if (events & EPOLLERR) {
    close();
    return;
  }
  progress();
}

bool BackendConnection::read_more() {
  if (!readable_ || eof_) return false;
  size_t room = in_.writable();
  if (!room) return false;
  ssize_t n = ::recv(fd_, in_.write_ptr(), room, 0);
  if (n > 0) {
    in_.commit(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < room && !hup_) readable_ = false;  // FIN in the same edge: read to 0
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    readable_ = false;
    return false;
  }
  eof_ = true;
  readable_ = false;
  return true;
}

bool BackendConnection::flush() {
  for (;;) {
    size_t pending = out_.size() - out_sent_;
    iovec iov[2];
    int cnt = 0;
    if (pending) iov[cnt++] = {out_.data() + out_sent_, pending};
    size_t gen = 0;
    if (bytes_left_) {
      gen = bytes_left_ < kPatternBlockSize ? static_cast<size_t>(bytes_left_) : kPatternBlockSize;
      iov[cnt++] = {const_cast<char*>(pattern_block()), gen};
    }
    if (!cnt) return true;
    if (!writable_) return false;
    ssize_t n = ::writev(fd_, iov, cnt);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        writable_ = false;
        return false;
      }
      close();
      return false;
    }
    size_t w = static_cast<size_t>(n);
    size_t a = w < pending ? w : pending;
    out_sent_ += a;
    if (out_sent_ == out_.size()) {
      out_.clear();
      out_sent_ = 0;
    }
    bytes_left_ -= (w - a);
    if (w < pending + gen) {
      writable_ = false;
      return false;
    }
  }
}

void BackendConnection::progress() {
  if (in_progress_) return;
  in_progress_ = true;
  int spins = 0;
  bool moved = false;
  for (; phase_ != Phase::kClosed; ++spins) {
    if (spins == kMaxSpins) {
      // Sockets are edge-triggered: stopping while there is work would never be woken
      // again. Yield to the worker's other connections and continue on the next turn.
      resume_.arm(core::Millis(0));
      break;
    }
    moved = false;
    if (phase_ == Phase::kHead) {
      if (in_.empty()) moved |= read_more();
      if (in_.empty()) {
        if (eof_) close();
        else in_.release_if_empty();
        break;
      }
      if (first_request_ && http::maybe_h2_preface(in_.view())) {
        if (in_.size() < http::kH2Preface.size()) {
          if (eof_) { close(); break; }
          moved |= read_more();
          if (!moved) break;
          continue;
        }
        // h2c with prior knowledge: the HTTP/2 codec takes the socket and what was read.
        new H2Backend(ctx_, fd_, peer_ip_, in_.view());
        fd_ = -1;
        in_.clear();
        close();
        break;
      }
      http::H1Limits limits;
      http::ParseError err;
      auto r = http::parse_request(in_.data(), in_.size(), limits, req_, err);
      if (r == http::ParseResult::kIncomplete) {
        if (eof_) { close(); break; }
        moved |= read_more();
        if (!moved) break;
        continue;
      }
      if (r == http::ParseResult::kError) {
        out_ = "HTTP/1.1 " + std::to_string(err.status) + " Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        close_after_ = true;
        phase_ = Phase::kWriting;
        in_.clear();
        continue;
      }
      on_request();
      moved = true;
    } else if (phase_ == Phase::kBody) {
      while (!in_.empty() && phase_ == Phase::kBody) {
        if (req_.framing == http::BodyFraming::kContentLength) {
          size_t n = in_.size() < body_remaining_ ? in_.size() : static_cast<size_t>(body_remaining_);
          in_.consume(n);
          body_remaining_ -= n;
          body_bytes_ += n;
          if (!body_remaining_) phase_ = Phase::kDelay;
        } else {
          auto r = chunked_.decode(in_.view());
          in_.consume(r.consumed);
          if (r.status == http::ChunkedDecoder::Status::kData) body_bytes_ += r.data.size();
          else if (r.status == http::ChunkedDecoder::Status::kDone) phase_ = Phase::kDelay;
          else if (r.status == http::ChunkedDecoder::Status::kError) { close(); break; }
        }
        moved = true;
      }
      if (phase_ == Phase::kBody) {
        if (eof_) { close(); break; }
        if (read_more()) moved = true;
        else break;
      } else if (phase_ == Phase::kDelay) {
        if (plan_.delay_ms) timer_.arm(core::Millis(plan_.delay_ms));
        else respond();
        moved = true;
      }
    } else if (phase_ == Phase::kDelay) {
      break;  // the timer moves us on
    } else if (phase_ == Phase::kWriting) {
      if (!flush()) break;
      if (close_after_ || ctx_.draining) {
        close();
        break;
      }
      phase_ = Phase::kHead;
      moved = true;
    }
    if (!moved) break;
  }
  in_progress_ = false;
}

void BackendConnection::on_request() {
  // Everything that needs the head's bytes happens here, before they leave the buffer.
  first_request_ = false;
  body_bytes_ = 0;
  close_after_ = !req_.keep_alive;
  plan_ = plan_response(ctx_.name, req_.method, req_.target, peer_ip_, req_.headers, ctx_.fail_status);
  in_.consume(req_.head_bytes);
  body_remaining_ = req_.content_length;
  chunked_.reset();
  phase_ = req_.framing == http::BodyFraming::kNone ? Phase::kDelay : Phase::kBody;
  if (phase_ == Phase::kDelay) {
    if (plan_.delay_ms) timer_.arm(core::Millis(plan_.delay_ms));
    else respond();
  }
}

void BackendConnection::respond() {
  std::string body = plan_.finish_body(body_bytes_);
  bool no_body = no_body_status(plan_.status);
  out_.clear();
  out_sent_ = 0;
  out_ += "HTTP/1.1 ";
  out_ += std::to_string(plan_.status);
  out_ += ' ';
  out_ += reason(plan_.status);
  out_ += "\r\nx-backend: ";
  out_ += ctx_.name;
  out_ += "\r\nContent-Type: ";
  out_ += plan_.content_type();
  bytes_left_ = plan_.kind == ResponsePlan::Kind::kBytes ? plan_.bytes : 0;
  if (!no_body) {
    out_ += "\r\nContent-Length: ";
    out_ += std::to_string(plan_.kind == ResponsePlan::Kind::kBytes ? plan_.bytes : body.size());
  }
  if (close_after_ || ctx_.draining) out_ += "\r\nConnection: close";
  out_ += "\r\n\r\n";
  if (req_.is_head || no_body) bytes_left_ = 0;
  else out_ += body;
  phase_ = Phase::kWriting;
}

void BackendConnection::drain() {
  ctx_.draining = true;
  if (phase_ == Phase::kHead && in_.empty()) close();
}

void BackendConnection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  timer_.cancel();
  resume_.cancel();
  if (fd_ >= 0) {
    ctx_.loop.remove(fd_);
    ::close(fd_);
  }
  --ctx_.open_connections;
  ctx_.connections.erase(this);
  BackendConnection* self = this;
  ctx_.loop.defer([self] { delete self; });
}

}  // namespace hop::backend
