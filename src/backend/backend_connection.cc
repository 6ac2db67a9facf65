#include "backend/backend_connection.h"

#include "core/json_escape.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace hop::backend {

namespace {
constexpr uint64_t kMaxBytes = 64ull * 1024 * 1024 * 1024;  // /bytes/N cap: 64 GiB
constexpr uint64_t kMaxDelayMs = 600000;

// The /bytes/N payload is cut from this block, so generating a large body costs no work.
const char* pattern_block() {
  static char block[64 * 1024];
  static bool init = [] {
    for (size_t i = 0; i < sizeof block; ++i) block[i] = static_cast<char>('a' + i % 26);
    return true;
  }();
  (void)init;
  return block;
}

bool parse_tail_number(std::string_view path, std::string_view prefix, uint64_t& out) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  std::string_view num = path.substr(prefix.size());
  if (num.empty()) return false;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), out);
  return ec == std::errc() && p == num.data() + num.size();
}


std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}
}  // namespace

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
      gen = bytes_left_ < 64 * 1024 ? static_cast<size_t>(bytes_left_) : 64 * 1024;
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
        if (delay_ms_) timer_.arm(core::Millis(delay_ms_));
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
  status_ = 200;
  delay_ms_ = 0;
  bytes_left_ = 0;
  body_bytes_ = 0;
  close_after_ = !req_.keep_alive;
  route_.clear();
  std::string_view path = req_.path;
  uint64_t n = 0;
  if (path == "/health") {
    route_ = "health";
  } else if (parse_tail_number(path, "/status/", n) && n >= 200 && n <= 599) {
    status_ = static_cast<int>(n);
  } else if (parse_tail_number(path, "/delay/", n)) {
    delay_ms_ = n < kMaxDelayMs ? n : kMaxDelayMs;
  } else if (parse_tail_number(path, "/bytes/", n)) {
    route_ = "bytes";
    bytes_left_ = n < kMaxBytes ? n : kMaxBytes;
  }
  if (ctx_.fail_status && route_ != "health") {
    status_ = ctx_.fail_status;
    route_.clear();
    bytes_left_ = 0;
  }
  echo_.clear();
  if (route_.empty()) {
    echo_ += "{\"backend\":\"";
    core::append_json_escaped(echo_, ctx_.name);
    echo_ += "\",\"method\":\"";
    core::append_json_escaped(echo_, req_.method);
    echo_ += "\",\"path\":\"";
    core::append_json_escaped(echo_, req_.target);
    echo_ += "\",\"client\":\"";
    core::append_json_escaped(echo_, peer_ip_);
    echo_ += "\",\"headers\":{";
    bool first = true;
    for (const auto& h : req_.headers) {
      if (!first) echo_ += ',';
      first = false;
      echo_ += '"';
      for (char c : h.name) echo_ += static_cast<char>(tolower(static_cast<unsigned char>(c)));
      echo_ += "\":\"";
      core::append_json_escaped(echo_, h.value);
      echo_ += '"';
    }
    echo_ += "}";
  }
  in_.consume(req_.head_bytes);
  body_remaining_ = req_.content_length;
  chunked_.reset();
  phase_ = req_.framing == http::BodyFraming::kNone ? Phase::kDelay : Phase::kBody;
  if (phase_ == Phase::kDelay) {
    if (delay_ms_) timer_.arm(core::Millis(delay_ms_));
    else respond();
  }
}

void BackendConnection::respond() {
  std::string body;
  if (route_ == "health") body = "ok\n";
  else if (route_.empty()) {
    echo_ += ",\"body_bytes\":" + std::to_string(body_bytes_) + "}\n";
    body.swap(echo_);
  }
  bool no_body = status_ == 204 || status_ == 304 || (status_ >= 100 && status_ < 200);
  out_.clear();
  out_sent_ = 0;
  out_ += "HTTP/1.1 ";
  out_ += std::to_string(status_);
  out_ += ' ';
  out_ += reason(status_);
  out_ += "\r\nx-backend: ";
  out_ += ctx_.name;
  if (route_ == "bytes") out_ += "\r\nContent-Type: application/octet-stream";
  else if (route_.empty()) out_ += "\r\nContent-Type: application/json";
  else out_ += "\r\nContent-Type: text/plain";
  if (!no_body) {
    out_ += "\r\nContent-Length: ";
    out_ += std::to_string(route_ == "bytes" ? bytes_left_ : body.size());
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
  ctx_.loop.remove(fd_);
  ::close(fd_);
  --ctx_.open_connections;
  ctx_.connections.erase(this);
  BackendConnection* self = this;
  ctx_.loop.defer([self] { delete self; });
}

}  // namespace hop::backend
