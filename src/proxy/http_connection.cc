#include "proxy/http_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/proxy_header.h"
#include "http/trailers.h"
#include "http/h2_preface.h"
#include "proxy/h2_downstream.h"
#include "proxy/head_writer.h"
#include "proxy/request_path.h"
#include "proxy/retry.h"
#include "upstream/outlier_detector.h"
#include "proxy/router.h"
#include "proxy/upstream_head.h"
#include "upstream/balancer.h"

namespace hop::proxy {

namespace {
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
// Stale pooled connections are retried on a fresh one; more than this many in a row means
// something other than staleness is wrong.
// How long a closing connection keeps reading (and discarding) what the client still
// sends, so the kernel does not answer it with a RST that destroys our error response.
constexpr core::Millis kLingerTime{2000};

}  // namespace

HttpConnection::HttpConnection(WorkerContext& ctx, transport::ClientSocket sock, const core::Address& peer,
                               size_t listener_index)
    : ctx_(ctx), sock_(std::move(sock)), peer_(peer), peer_ip_(peer.host()), listener_index_(listener_index), snap_(ctx.snapshot),
      lstats_(snap_->listener_stats[listener_index][ctx.index]),
      in_(ctx.buffers, snap_->config->listeners[listener_index].limits.buffer_size),
      timer_(ctx.loop, [this] { on_timer(); }), resume_(ctx.loop, [this] { progress(); }),
      try_timer_(ctx.loop, [this] { on_try_timeout(); }),
      retry_timer_(ctx.loop, [this] {
        if (phase_ == Phase::kBackoff) {
          start_attempt();
          progress();
        }
      }),
      abort_watch_(ctx.loop, [this] { watch_client(); }) {
  ctx_.link(this);
  lstats_->active_connections.add(1);
  proxy_header_pending_ = listener().proxy_protocol && !sock_.is_tls();  // TLS: read before the handshake
  if (sock_.registered()) sock_.watch(ctx_.loop, this);  // from a TLS handshake: events come here now
  if (!sock_.is_tls()) lstats_->connections_accepted.inc();  // TLS ones were counted at accept
  // A new connection gets the header timeout for its first request: a client that
  // connects and says nothing is the classic slowloris.
  timer_.arm(listener().timeouts.header_read);
}

HttpConnection::~HttpConnection() {}

const config::Listener& HttpConnection::listener() const { return snap_->config->listeners[listener_index_]; }

void HttpConnection::on_io(uint32_t events) {
  if (phase_ == Phase::kClosed) return;
  if (events & kReadEvents) down_readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) down_hup_ = true;
  if (events & EPOLLOUT) down_writable_ = true;
  if (events & EPOLLERR) {
    close();
    return;
  }
  progress();
}

void HttpConnection::on_upstream_io(upstream::UpstreamConnection&, uint32_t events) {
  if (phase_ == Phase::kClosed) return;
  if (events & kReadEvents) up_readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) up_hup_ = true;
  if (events & EPOLLOUT) up_writable_ = true;
  progress();
}

bool HttpConnection::read_downstream() {
  if (!down_readable_ || client_eof_) return false;
  size_t room = in_.writable();
  if (room == 0) return false;  // backpressure: the upstream has not taken what we hold
  ssize_t n = sock_.read(in_.write_ptr(), room);
  if (n > 0) {
    in_.commit(static_cast<size_t>(n));
    last_progress_ = ctx_.loop.now();
    // A short read drained the socket — unless the peer's FIN came in the same edge:
    // then only reading on to the 0 sees it (no further event will come).
    if (static_cast<size_t>(n) < room && !down_hup_ && !sock_.pending()) down_readable_ = false;
    return true;
  }
  if (n == 0) {
    client_eof_ = true;
    down_readable_ = false;
    return true;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    down_readable_ = false;
    return false;
  }
  client_eof_ = true;  // reset by peer: treat as gone
  client_reset_ = true;
  down_readable_ = false;
  return true;
}

// Writes what is queued in down_out_, then raw response body bytes straight from the
// upstream buffer, in one writev when both are there. Returns false when the socket is
// full (or broken) and we must wait.
bool HttpConnection::flush_downstream() {
  for (;;) {
    iovec iov[2];
    int cnt = 0;
    size_t out_len = down_out_.size() - down_out_sent_;
    if (out_len) iov[cnt++] = {down_out_.data() + down_out_sent_, out_len};
    size_t raw_len = 0;
    // Only body bytes the response's framing says are there: bytes after a bodyless
    // response (HEAD, 204, 304) are not the client's to see (response splitting).
    if (up_ && resp_head_done_ && !resp_chunked_out_ && (resp_.framing == http::BodyFraming::kContentLength ||
                                                         resp_.framing == http::BodyFraming::kUntilClose) &&
        phase_ == Phase::kProxying) {
      raw_len = up_->in().size();
      if (resp_.framing == http::BodyFraming::kContentLength && raw_len > resp_body_remaining_)
        raw_len = static_cast<size_t>(resp_body_remaining_);
      if (raw_len) iov[cnt++] = {const_cast<char*>(up_->in().data()), raw_len};
    }
    if (cnt == 0) return true;
    if (!down_writable_) return false;
    ssize_t n = sock_.writev(iov, cnt, close_after_response_ && write_ends_response(raw_len));
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        down_writable_ = false;
        return false;
      }
      client_eof_ = true;
      close();
      return false;
    }
    size_t w = static_cast<size_t>(n);
    last_progress_ = ctx_.loop.now();
    size_t from_out = w < out_len ? w : out_len;
    down_out_sent_ += from_out;
    if (down_out_sent_ == down_out_.size()) {
      down_out_.clear();
      down_out_sent_ = 0;
    }
    size_t from_raw = w - from_out;
    if (from_raw) {
      up_->in().consume(from_raw);
      bytes_sent_ += from_raw;
      if (resp_.framing == http::BodyFraming::kContentLength) resp_body_remaining_ -= from_raw;
    }
    if (w < out_len + raw_len) {
      down_writable_ = false;
      return false;
    }
  }
}

bool HttpConnection::write_ends_response(size_t raw_len) const {
  if (phase_ == Phase::kLocalReply) return true;  // down_out_ holds all of it
  if (phase_ != Phase::kProxying || !resp_head_done_) return false;
  if (response_done_) return true;  // the rest is queued
  if (resp_chunked_out_) return false;
  if (resp_.framing == http::BodyFraming::kNone) return true;
  return resp_.framing == http::BodyFraming::kContentLength && raw_len == resp_body_remaining_;
}

void HttpConnection::progress() {
  if (in_progress_) return;  // a callback re-entered: the outer loop will see the change
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
    switch (phase_) {
      case Phase::kIdle:
      case Phase::kReadingHead: {
        if (in_.empty()) moved |= read_downstream();
        if (in_.empty()) {
          if (client_eof_) {
            close();
            break;
          }
          in_.release_if_empty();  // idle keep-alive connections hold no buffer
          break;
        }
        if (phase_ == Phase::kIdle) {
          phase_ = Phase::kReadingHead;
          timer_.arm(listener().timeouts.header_read);  // bounds the PROXY header too
        }
        if (proxy_header_pending_ && !read_proxy_header(moved)) break;
        if (first_request_ && h2c_preface()) {
          if (in_.size() >= http::kH2Preface.size()) {
            hand_over_to_h2();
            break;
          }
          if (client_eof_) {
            close();
            break;
          }
          moved |= read_downstream();  // a prefix of the preface: wait for the rest
          break;
        }
        http::ParseError err;
        auto r = http::parse_request(in_.data(), in_.size(), listener().limits.h1, req_, err);
        if (r == http::ParseResult::kOk) {
          on_head_parsed();
          moved = true;
        } else if (r == http::ParseResult::kError) {
          lstats_->protocol_errors.inc();
          lstats_->requests.inc();
          method_.clear();
          path_.clear();
          in_request_ = true;
          bytes_received_ = in_.size();
          t_start_ = ctx_.loop.now();
          local_reply(err.status, std::string(err.reason) + "\n", "", true);
          moved = true;
        } else {
          if (client_eof_) {
            close();
            break;
          }
          if (in_.full()) {
            // The head does not fit the buffer: it is over the limit whatever comes next.
            lstats_->protocol_errors.inc();
            lstats_->requests.inc();
            method_.clear();
            path_.clear();
            in_request_ = true;
            t_start_ = ctx_.loop.now();
            local_reply(431, "request header fields too large\n", "", true);
            moved = true;
            break;
          }
          moved |= read_downstream();
        }
        break;
      }
      case Phase::kWaitingUpstream:
      case Phase::kBackoff:
        // Read ahead (bounded by in_) so the request body is ready when a connection is,
        // and so a client that hangs up is noticed while hop still waits for an upstream.
        if (read_downstream() && client_eof_) {
          close();
          break;
        }
        if (phase_ == Phase::kWaitingUpstream) arm_try_timer();  // the body's last bytes may just have come
        break;
      case Phase::kProxying: {
        if (req_body_done_ && !resp_started_ && down_readable_ && read_downstream() && client_eof_) {
          // The client left before its answer (nginx's 499): free the upstream connection,
          // the breaker slot and any retries instead of waiting out the timeout.
          close();
          break;
        }
        if (!flush_downstream()) {
          if (phase_ == Phase::kClosed) break;
        }
        bool a = pump_request();
        if (phase_ != Phase::kProxying) { moved = true; break; }
        bool b = pump_response();
        moved = a || b;
        break;
      }
      case Phase::kExchange:
        moved = pump_exchange();
        break;
      case Phase::kTunnel:
        moved = pump_tunnel();
        break;
      case Phase::kLocalReply:
        if (flush_downstream()) {
          if (close_after_response_) {
            end_connection();
          } else {
            finish_request();
          }
          moved = true;
        }
        break;
      case Phase::kLingering: {
        char sink[4096];
        for (;;) {
          ssize_t n = sock_.read(sink, sizeof sink);
          if (n > 0) continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          close();
          break;
        }
        break;
      }
      case Phase::kClosed:
        break;
    }
    if (!moved) break;
  }
  in_progress_ = false;
  if (phase_ != Phase::kClosed && !sock_.registered()) {
    if (waits_on_client()) watch_client();
    else if (!abort_watch_.armed()) abort_watch_.arm(kAbortWatchDelay);
  }
  if (phase_ == Phase::kClosed && !destroyed_) {
    destroyed_ = true;
    HttpConnection* self = this;
    ctx_.loop.defer([self] { delete self; });
  }
}

bool HttpConnection::waits_on_client() const {
  if (!down_writable_) return true;  // output waits for room
  switch (phase_) {
    case Phase::kWaitingUpstream:
    case Phase::kBackoff:
    case Phase::kProxying:
      return !req_body_done_;  // only the upstream can move it on, unless a body is still coming
    default:
      return true;  // a head to read, a reply to send, a lingering close, an exchange
  }
}

void HttpConnection::watch_client() {
  if (phase_ == Phase::kClosed || sock_.registered()) return;
  abort_watch_.cancel();
  if (!sock_.watch(ctx_.loop, this)) close();
}

bool HttpConnection::read_proxy_header(bool& moved) {
  core::ProxyHeader ph;
  switch (core::parse_proxy_header(in_.data(), in_.size(), ph)) {
    case core::ProxyHeaderResult::kIncomplete:
      // A full buffer cannot take the rest of it (a v2 block larger than a small buffer_size).
      if (client_eof_ || in_.full()) {
        lstats_->protocol_errors.inc();
        close();
      } else {
        moved |= read_downstream();
      }
      return false;
    case core::ProxyHeaderResult::kError:
      // Not from the balancer, or broken: nothing on this connection says who the client
      // is. No response either: the peer need not speak HTTP.
      lstats_->protocol_errors.inc();
      close();
      return false;
    case core::ProxyHeaderResult::kOk:
      break;
  }
  in_.consume(ph.length);
  proxy_header_pending_ = false;
  if (ph.has_source) {
    peer_ = ph.source;
    peer_ip_ = peer_.host();
  }
  moved = true;
  return !in_.empty();  // the request may have come with it
}

bool HttpConnection::h2c_preface() {
  if (!listener().http2.enabled || sock_.is_tls()) return false;
  return http::maybe_h2_preface(in_.view());
}

void HttpConnection::hand_over_to_h2() {
  // The HTTP/2 codec takes the socket and the bytes read so far; this object goes away
  // without closing the socket.
  new H2Downstream(ctx_, std::move(sock_), peer_, snap_, listener_index_, in_.view());
  in_.clear();
  close();
}

const upstream::Cluster& HttpConnection::cluster() const { return snap_->clusters[att_.cluster]; }

void HttpConnection::report(upstream::Outcome outcome) {
  upstream::record_outcome(cluster(), static_cast<size_t>(att_.last_host), outcome, core::to_ms(ctx_.loop.now()),
                           cluster().stats(ctx_.index));
}

void HttpConnection::on_head_parsed() {
  first_request_ = false;
  // Pick up a new snapshot between requests, if this connection's listener still exists.
  if (rebind_listener(ctx_.snapshot, snap_, listener_index_))
    lstats_ = snap_->listener_stats[listener_index_][ctx_.index];
  att_.reset();
  in_request_ = true;
  t_start_ = ctx_.loop.now();
  lstats_->requests.inc();
  method_.assign(req_.method);
  path_.assign(req_.target);
  bytes_received_ = req_.head_bytes;
  bytes_sent_ = 0;
  status_ = 0;
  hop_error_ = "";
  route_ = nullptr;
  resp_head_done_ = resp_started_ = response_done_ = resp_head_partial_ = false;
  resp_chunked_out_ = false;
  splice_refused_ = false;
  upgrade_ = false;
  client_asked_close_ = !req_.keep_alive;
  close_after_response_ = client_asked_close_ || ctx_.draining;
  req_body_done_ = req_.framing == http::BodyFraming::kNone;
  req_body_remaining_ = req_.content_length;
  req_chunked_.reset();
  resp_chunked_.reset();

  if (listener().normalize_path && !normalize_request_path(req_, norm_target_)) {
    in_.consume(req_.head_bytes);
    local_reply(400, "invalid percent-encoding in path\n", "", !req_body_done_ || close_after_response_);
    return;
  }
  // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
  std::string_view authority = absolute_form_authority(req_);
  if (authority.empty()) authority = req_.host;
  const auto* vh = select_vhost(listener(), authority);
  route_ = vh ? select_route(*vh, req_.method, req_.path, req_.headers) : nullptr;
  if (!route_) {
    in_.consume(req_.head_bytes);
    local_reply(404, "no route\n", "no-route", !req_body_done_ || close_after_response_);
    return;
  }
  using A = config::Route::Action;
  if (route_->action == A::kDirect || route_->action == A::kRedirect) {
    std::string location;
    if (route_->action == A::kRedirect) {
      const auto& rd = route_->redirect;
      std::string_view host = rd.host.empty() ? authority : std::string_view(rd.host);
      if (!host.empty()) {
        location = rd.scheme.empty() ? "http" : rd.scheme;
        location += "://";
        location += host;
      }  // no authority known (HTTP/1.0 without Host): a relative reference (RFC 9110 §10.2.2)
      std::string_view target = req_.target;
      std::string_view query;
      auto q = target.find('?');
      if (q != std::string_view::npos) query = target.substr(q);
      location += rd.path.empty() ? std::string(req_.path) : rd.path;
      if (!rd.strip_query) location += query;
    }
    in_.consume(req_.head_bytes);
    // A body we will not forward is not read either: close after the reply instead.
    bool close = !req_body_done_ || close_after_response_;
    if (route_->action == A::kDirect)
      local_reply(route_->direct.status, route_->direct.body, "", close, {}, route_->direct.content_type);
    else
      local_reply(route_->redirect.code, "", "", close, location, "");
    return;
  }
  if (route_needs_exchange()) {
    start_exchange(authority);
    return;
  }
  dispatch();
}

bool HttpConnection::route_needs_exchange() const {
  for (const auto& wc : route_->clusters) {
    auto p = snap_->clusters[wc.cluster_index].config().protocol;
    if (p != config::UpstreamProtocol::kHttp1) return true;
  }
  return false;
}

void HttpConnection::start_exchange(std::string_view authority) {
  in_request_ = false;  // the exchange counts and logs the request
  exchange_chunked_ = exchange_eof_ = exchange_failed_ = false;
  exchange_ = std::make_unique<Exchange>(ctx_, snap_, listener_index_, peer_ip_, sock_.is_tls() ? "https" : "http",
                                         "HTTP/1.1", exchange_sink_);
  exchange_->set_counted();  // on_head_parsed counted the request already
  exchange_->set_method(req_.method);
  exchange_->set_path(req_.origin_target);
  exchange_->set_authority(authority);
  std::string name;
  for (const auto& h : req_.headers) {
    if (is_hop_by_hop(h.name, req_.headers, req_.connection_options)) continue;
    if (http::iequals(h.name, "host") || http::iequals(h.name, "content-length") || http::iequals(h.name, "expect"))
      continue;
    name.clear();
    for (char c : h.name) name.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    exchange_->add_header(name, h.value);
  }
  if (req_.framing == http::BodyFraming::kContentLength) exchange_->set_content_length(req_.content_length);
  exchange_->set_head_bytes(req_.head_bytes);
  if (req_.expect_continue && !req_body_done_ && req_.version_minor == 1)
    down_out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  in_.consume(req_.head_bytes);
  phase_ = Phase::kExchange;
  timer_.cancel();  // the exchange runs the request's timeouts
  exchange_->start(req_body_done_);
}

void HttpConnection::exchange_head(int status, const http::HeaderPairs& headers, bool end_stream) {
  status_ = status;
  down_out_.append("HTTP/1.1 ");
  down_out_.append(std::to_string(status));
  down_out_.push_back(' ');
  down_out_.append(reason_phrase(status));
  down_out_.append("\r\n");
  bool has_length = false;
  for (const auto& [n, v] : headers) {
    if (n == "content-length") has_length = true;
    down_out_.append(n);
    down_out_.append(": ");
    down_out_.append(v);
    down_out_.append("\r\n");
  }
  bool bodyless = end_stream || req_.is_head || status == 204 || status == 304;
  exchange_chunked_ = !bodyless && !has_length;
  if (exchange_chunked_ && req_.version_minor == 0) {
    exchange_chunked_ = false;
    close_after_response_ = true;  // HTTP/1.0: the body ends at close
  }
  if (exchange_chunked_) down_out_.append("Transfer-Encoding: chunked\r\n");
  if (!req_body_done_ || ctx_.draining) close_after_response_ = true;
  if (close_after_response_) down_out_.append("Connection: close\r\n");
  down_out_.append("\r\n");
  // From here this connection guards the client's progress itself: the exchange may finish
  // (its body all taken) while hop still holds bytes for a client that stopped reading.
  last_progress_ = ctx_.loop.now();
  timer_.arm(listener().timeouts.idle);
  resume_.arm(core::Millis(0));
}

// Request body into the exchange (bounded), response body out of it, framed for HTTP/1.1.
bool HttpConnection::pump_exchange() {
  bool moved = false;
  if (exchange_failed_) {
    close();  // the response was cut upstream: the client must see an incomplete message
    return true;
  }
  Exchange* ex = exchange_.get();
  while (!req_body_done_ && ex->buffered_request_body() < 64 * 1024) {
    if (in_.empty() && !read_downstream()) break;
    if (in_.empty()) {
      if (client_eof_) {
        close();
        return true;
      }
      continue;
    }
    moved = true;
    if (req_.framing == http::BodyFraming::kContentLength) {
      size_t n = std::min<uint64_t>(in_.size(), req_body_remaining_);
      ex->push_body(reinterpret_cast<const uint8_t*>(in_.data()), n);
      in_.consume(n);
      req_body_remaining_ -= n;
      if (req_body_remaining_ == 0) req_body_done_ = true;
    } else {
      auto r = req_chunked_.decode(in_.view());
      in_.consume(r.consumed);
      if (r.status == http::ChunkedDecoder::Status::kError) {
        close();
        return true;
      }
      if (r.status == http::ChunkedDecoder::Status::kData)
        ex->push_body(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size());
      else if (r.status == http::ChunkedDecoder::Status::kDone) req_body_done_ = true;
    }
    if (req_body_done_) ex->end_body();
  }
  if (req_body_done_ && status_ == 0 && down_readable_ && read_downstream() && client_eof_) {
    // The client left before its answer (499, as in the proxied path): the exchange cancels
    // its upstream stream and gives back its slots now, not when the response comes.
    close();
    return true;
  }
  uint8_t buf[16 * 1024];
  while (!exchange_eof_ && down_out_.size() < 64 * 1024) {
    bool eof = false;
    size_t n = ex->read_body(buf, sizeof buf, eof);
    if (n) {
      moved = true;
      bytes_sent_ += n;
      if (exchange_chunked_) {
        char hdr[24];
        down_out_.append(hdr, http::chunk_header(n, hdr));
        down_out_.append(reinterpret_cast<const char*>(buf), n);
        down_out_.append("\r\n");
      } else if (!req_.is_head) {
        down_out_.append(reinterpret_cast<const char*>(buf), n);
      }
    }
    if (eof) {
      exchange_eof_ = true;
      moved = true;
      if (exchange_chunked_) {
        down_out_.append("0\r\n");
        for (const auto& [tn, tv] : ex->trailers()) {
          down_out_.append(tn);
          down_out_.append(": ");
          down_out_.append(tv);
          down_out_.append("\r\n");
        }
        down_out_.append("\r\n");
      }
    }
    if (!n) break;
  }
  // Writing out a full buffer is progress too: the loop above skipped reading while it was
  // full, and the exchange will not call again for what it already holds (its upstream
  // waits for this read to open the flow-control window).
  size_t unsent = down_out_.size() - down_out_sent_;
  bool flushed = flush_downstream();
  if (down_out_.size() - down_out_sent_ < unsent) {
    moved = true;
    if (exchange_) exchange_->touch();  // (a failed write may have closed and dropped it)
  }
  if (!flushed) return moved;
  if (exchange_eof_ && status_ != 0) {
    exchange_done();
    return true;
  }
  return moved;
}

void HttpConnection::exchange_done() {
  exchange_.reset();
  if (close_after_response_) {
    end_connection();
    return;
  }
  phase_ = Phase::kIdle;
  timer_.arm(listener().timeouts.idle);
}

void HttpConnection::dispatch() {
  if (!att_.begin(ctx_, *snap_, *route_, peer_ip_, req_.headers)) {
    in_.consume(req_.head_bytes);
    local_reply(503, "overflow\n", "overflow", close_after_response_ || !req_body_done_);
    return;
  }
  replay_.clear();
  replay_ok_ = true;

  // Rewrite the head now, while its bytes are in in_; then the input buffer is free to
  // carry the body.
  std::string rewritten;
  std::string_view target = req_.origin_target;
  if (route_->prefix_rewrite) {
    // The route's prefix_rewrite is validated to start with '/' by the config loader.
    rewritten = *route_->prefix_rewrite;
    std::string_view rest = target.substr(route_->match.path.size());
    // "/blue" → "/" on "/blue/x" gives "/x", not "//x".
    if (!rewritten.empty() && rewritten.back() == '/' && !rest.empty() && rest[0] == '/') rest.remove_prefix(1);
    rewritten.append(rest);
    target = rewritten;
  }
  char traceparent[64];
  std::string_view tp;
  if (!req_.headers.has("traceparent"))
    tp = std::string_view(traceparent, make_traceparent(ctx_.random(), ctx_.random(), ctx_.random(), traceparent));
  UpstreamRequestParams params{target, peer_ip_, tp, {}, absolute_form_authority(req_)};
  if (sock_.is_tls()) params.proto = "https";
  if (req_.has_upgrade && req_.version_minor == 1 && req_.framing == http::BodyFraming::kNone &&
      req_.method == "GET") {
    std::string_view asked = req_.headers.get("upgrade");
    upgrade_ = http::list_contains(asked, "websocket");
    if (upgrade_) params.upgrade = asked;
  }
  std::string host_fallback;
  const upstream::Cluster& cluster = this->cluster();
  if (req_.host.empty() && !cluster.hosts().empty()) {
    host_fallback = cluster.hosts()[0].name;
    params.host_fallback = host_fallback;
  }
  write_upstream_request_head(req_, params, up_head_);
  // RFC 9110 §10.1.1: an HTTP/1.0 client's 100-continue is ignored (no 1xx for it).
  expect_continue_pending_ = req_.expect_continue && !req_body_done_ && req_.version_minor == 1;
  in_.consume(req_.head_bytes);
  t_dispatch_ = ctx_.loop.now();
  // The request timeout runs from the moment the whole request is with hop (as Envoy's):
  // a slow upload is bounded by the idle timeout on progress instead.
  last_progress_ = ctx_.loop.now();
  if (req_body_done_) arm_request_timeout();
  else timer_.arm(listener().timeouts.idle);
  start_attempt();
}

void HttpConnection::arm_request_timeout() {
  timer_.arm(route_->timeout ? *route_->timeout : listener().timeouts.request);
}

// Like the request timeout, a try's timeout runs once the whole request is with hop (as
// Envoy's): a slow upload is the client's doing, not the host's, and must neither fail the
// request with 504 nor count against the host in outlier detection.
void HttpConnection::arm_try_timer() {
  if (route_->retries.per_try_timeout && !try_timer_.armed() && whole_request_in_hop())
    try_timer_.arm(*route_->retries.per_try_timeout);
}

// The client has sent everything: the body ended, or every byte of a Content-Length body
// is in the input buffer (still to be written upstream, which is the try's business).
bool HttpConnection::whole_request_in_hop() const {
  return req_body_done_ || (req_.framing == http::BodyFraming::kContentLength && req_body_remaining_ <= in_.size());
}

void HttpConnection::start_attempt() {
  if (att_.pick(ctx_, *snap_) < 0) {
    local_reply(503, "no upstream host\n", "no-healthy-upstream", close_after_response_ || !req_body_done_);
    return;
  }
  pool_ = &att_.pool(ctx_, *snap_);
  up_head_sent_ = 0;
  // Whatever body was taken from the client so far goes again, first, from the replay
  // copy: sent or not (re-chunked bytes are remembered when they leave in_, not when
  // written, so a partial write before a retry loses nothing and splits no chunk).
  up_body_ = replay_;
  up_body_sent_ = 0;
  phase_ = Phase::kWaitingUpstream;
  t_connect_start_ = core::Clock::now();  // fresh reads: the loop's clock is per wake-up
  arm_try_timer();
  pool_->acquire(*this);
}

void HttpConnection::on_pool_ready(upstream::UpstreamConnection& c, bool fresh) {
  up_ = &c;
  c.attach(this);
  att_.reused = !fresh;
  att_.connect_ms = fresh ? core::ms_between(t_connect_start_, core::Clock::now()) : 0.0;
  // Nothing can be there to read before our request goes out: a pooled connection that
  // became readable while idle was retired by the pool, and what arrives from now on is
  // signalled to us (edge-triggered). Reading now would only cost a recv() = EAGAIN.
  up_readable_ = false;
  up_writable_ = true;
  up_hup_ = false;
  up_write_failed_ = false;
  interim_seen_ = false;
  resp_head_partial_ = false;
  phase_ = Phase::kProxying;
  if (expect_continue_pending_ && in_.empty()) {
    // RFC 9110 §10.1.1: tell the client to send the body now that it has somewhere to go.
    down_out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  }
  expect_continue_pending_ = false;
  progress();
}

void HttpConnection::on_pool_failure(upstream::PoolFailure why, int error) {
  if (phase_ != Phase::kWaitingUpstream) return;
  pool_ = nullptr;
  release_upstream(false);
  const char* err = upstream::to_string(why);
  if (why == upstream::PoolFailure::kConnectFailed || why == upstream::PoolFailure::kConnectTimeout) {
    report(upstream::Outcome::kConnectFailure);
    FailureKind kind = error == ECONNREFUSED ? FailureKind::kRefused : FailureKind::kConnectFailure;
    if (retry(kind, 0)) return;
    local_reply(503, std::string(err) + "\n", err, close_after_response_ || !req_body_done_);
  } else {
    local_reply(503, std::string(err) + "\n", err, close_after_response_ || !req_body_done_);
  }
  progress();
}

bool HttpConnection::retry(FailureKind kind, int status) {
  if (!att_.allow_retry(ctx_, *snap_, kind, status, method_, replay_ok_, resp_started_)) return false;
  release_upstream(false);
  try_timer_.cancel();
  resp_head_done_ = false;
  phase_ = Phase::kBackoff;
  retry_timer_.arm(att_.backoff_for(kind, ctx_.random()));
  return true;
}

// Moves request bytes toward the upstream: the rewritten head, then the body (raw for
// Content-Length, re-chunked for chunked). Returns true if anything moved.
bool HttpConnection::pump_request() {
  if (!up_ || up_write_failed_) return false;
  bool moved = false;
  for (;;) {
    // Refill the input buffer from the client when the body needs it.
    if (!req_body_done_ && in_.empty() && read_downstream()) {
      // (No body byte yet is no reason to hold the head back: the upstream may answer
      // early, e.g. 401 or 413, before any body.)
      moved = true;
      if (!resp_started_) arm_try_timer();  // the last body bytes may just have come
      if (in_.empty() && client_eof_) {
        // The client went away mid-body: nothing sensible can reach the upstream.
        release_upstream(false);
        close();
        return true;
      }
    }
    size_t body_len = up_body_.size() - up_body_sent_;
    if (req_.framing == http::BodyFraming::kChunked && !req_body_done_ && body_len == 0 && !in_.empty()) {
      if (!encode_chunked_body()) return true;
      body_len = up_body_.size();
    }
    // Order on the wire: head, then buffered body (replay or re-chunked), then raw
    // Content-Length bytes straight from the input buffer.
    iovec iov[3];
    int cnt = 0;
    size_t head_len = up_head_.size() - up_head_sent_;
    if (head_len) iov[cnt++] = {up_head_.data() + up_head_sent_, head_len};
    if (body_len) iov[cnt++] = {up_body_.data() + up_body_sent_, body_len};
    size_t raw_len = 0;
    if (req_.framing == http::BodyFraming::kContentLength && !req_body_done_ && body_len == 0) {
      raw_len = in_.size() < req_body_remaining_ ? in_.size() : static_cast<size_t>(req_body_remaining_);
      if (raw_len) iov[cnt++] = {const_cast<char*>(in_.data()), raw_len};
    }
    if (cnt == 0) break;  // waiting for the client's body, or all sent
    if (!up_writable_) break;
    ssize_t n = up_->writev(iov, cnt);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        up_writable_ = false;
        break;
      }
      // The upstream stopped taking the request: a reset, or it answered early (401, 413)
      // and closed. Its answer may be waiting in the socket (data queued before a reset is
      // still read first): stop sending and read. pump_response fails the attempt -- or
      // resends it on a fresh connection -- only if nothing of an answer came.
      up_write_failed_ = true;
      up_readable_ = true;
      return true;
    }
    moved = true;
    size_t w = static_cast<size_t>(n);
    size_t from_head = w < head_len ? w : head_len;
    up_head_sent_ += from_head;
    w -= from_head;
    if (head_len && up_head_sent_ == up_head_.size()) t_upstream_sent_ = core::Clock::now();
    if (body_len) {
      size_t from_body = w < body_len ? w : body_len;
      up_body_sent_ += from_body;
      w -= from_body;
      if (up_body_sent_ == up_body_.size()) {
        up_body_.clear();
        up_body_sent_ = 0;
      }
    }
    if (raw_len) {
      size_t from_raw = w < raw_len ? w : raw_len;
      remember_for_replay({in_.data(), from_raw});
      in_.consume(from_raw);
      bytes_received_ += from_raw;
      req_body_remaining_ -= from_raw;
      if (req_body_remaining_ == 0) {
        req_body_done_ = true;
        if (!resp_started_) {
          arm_request_timeout();
          arm_try_timer();
        }
      }
    }
    if (static_cast<size_t>(n) < head_len + body_len + raw_len) {
      up_writable_ = false;
      break;
    }
  }
  return moved;
}

bool HttpConnection::encode_chunked_body() {
  // Decode what we have and re-encode it as one chunk per span: chunk boundaries and
  // extensions chosen by the client never reach the upstream.
  up_body_.clear();
  up_body_sent_ = 0;
  while (!in_.empty() && up_body_.size() < 64 * 1024) {
    auto r = req_chunked_.decode(in_.view());
    in_.consume(r.consumed);
    bytes_received_ += r.consumed;
    if (r.status == http::ChunkedDecoder::Status::kError) {
      release_upstream(false);
      // An early answer is already on its way to the client: a 400 after (part of) it
      // would be read as the rest of that response. Close instead.
      if (resp_started_ || down_out_sent_ > 0) {
        lstats_->protocol_errors.inc();
        close();
        return false;
      }
      local_reply(400, std::string(req_chunked_.error()) + "\n", "", true);
      return false;
    }
    if (r.status == http::ChunkedDecoder::Status::kData) {
      char hdr[24];
      size_t hl = http::chunk_header(r.data.size(), hdr);
      up_body_.append(hdr, hl);
      up_body_.append(r.data);
      up_body_.append("\r\n");
    } else if (r.status == http::ChunkedDecoder::Status::kDone) {
      up_body_.append("0\r\n\r\n");
      req_body_done_ = true;
      if (!resp_started_) {
        arm_request_timeout();
        arm_try_timer();
      }
      break;
    } else {
      break;  // need more
    }
  }
  remember_for_replay(up_body_);  // these bytes have left in_: the replay copy is their only other home
  return true;
}

void HttpConnection::remember_for_replay(std::string_view taken) {
  if (!replay_ok_ || taken.empty()) return;
  if (replay_.size() + taken.size() > route_->retries.max_buffered_body) {
    // Too big to keep: this request can no longer be retried.
    replay_ok_ = false;
    std::string().swap(replay_);
    return;
  }
  replay_.append(taken);
}

bool HttpConnection::pump_response() {
  if (!up_) return false;
  bool moved = false;
  for (int rounds = 0; rounds < 16; ++rounds) {
    if (!flush_downstream()) return moved;  // client is slow: stop reading the upstream
    if (phase_ != Phase::kProxying) return true;
    // Process what is buffered.
    if (!resp_head_done_ && !up_->in().empty() && !resp_head_partial_) {
      size_t before = up_->in().size();
      if (!handle_response_head()) return true;
      // An incomplete head consumed nothing: read more before parsing again.
      resp_head_partial_ = !resp_head_done_ && up_->in().size() == before;
      if (!resp_head_partial_) {
        moved = true;
        continue;
      }
    }
    if (resp_head_done_ && !up_->in().empty()) {
      if (resp_.framing == http::BodyFraming::kChunked && down_out_.empty()) {
        auto& in = up_->in();
        while (!in.empty() && down_out_.size() < 64 * 1024) {
          auto r = resp_chunked_.decode(in.view());
          in.consume(r.consumed);
          if (r.status == http::ChunkedDecoder::Status::kError) {
            // Headers are already out: all we can do is cut the connection so the client
            // sees an incomplete message rather than a wrong one.
            hop_error_ = "upstream-protocol-error";
            release_upstream(false);
            close();
            return true;
          }
          if (r.status == http::ChunkedDecoder::Status::kData) {
            if (resp_chunked_out_) {
              char hdr[24];
              size_t hl = http::chunk_header(r.data.size(), hdr);
              down_out_.append(hdr, hl);
              down_out_.append(r.data);
              down_out_.append("\r\n");
            } else {
              down_out_.append(r.data);
            }
            bytes_sent_ += r.data.size();
          } else if (r.status == http::ChunkedDecoder::Status::kDone) {
            if (resp_chunked_out_) {
              down_out_.append("0\r\n");
              for (const auto& [name, value] : http::forwardable_trailers(resp_chunked_.trailer_block(), false)) {
                down_out_.append(name);
                down_out_.append(": ");
                down_out_.append(value);
                down_out_.append("\r\n");
              }
              down_out_.append("\r\n");
            }
            resp_chunked_.forget_trailers();
            response_done_ = true;
            break;
          } else {
            break;
          }
        }
        moved = true;
        if (!response_done_) continue;
      } else if (resp_chunked_out_ && down_out_.empty()) {
        // Close-delimited upstream body to an HTTP/1.1 client: frame it as chunks.
        auto& in = up_->in();
        char hdr[24];
        size_t hl = http::chunk_header(in.size(), hdr);
        down_out_.append(hdr, hl);
        down_out_.append(in.view());
        down_out_.append("\r\n");
        bytes_sent_ += in.size();
        in.consume(in.size());
        moved = true;
        continue;
      }
    }
    if (!pipe_ && can_splice()) {
      pipe_ = ctx_.pipes.take();
      if (!pipe_) splice_refused_ = true;  // out of fds: this body takes the buffered path below
    }
    if (pipe_) return pump_spliced(moved);
    if (resp_head_done_ && resp_.framing == http::BodyFraming::kContentLength && resp_body_remaining_ == 0)
      response_done_ = true;
    if (resp_head_done_ && resp_.framing == http::BodyFraming::kNone) response_done_ = true;
    if (response_done_) {
      if (!flush_downstream()) return true;
      response_complete();
      return true;
    }
    // Need more from the upstream.
    if (!up_readable_) return moved;
    if (up_->in().writable() == 0) return moved;  // full: flush first
    size_t room = up_->in().writable();
    ssize_t n = up_->read_into_buffer();
    if (n > 0) {
      resp_head_partial_ = false;
      // A short read drained the socket: wait for the next event rather than pay a
      // recv() that returns EAGAIN (one syscall in five per request).
      // (Not when the FIN came in the same edge: no event would report it again.)
      if (static_cast<size_t>(n) < room && !up_hup_) up_readable_ = false;
      if (t_first_byte_ < t_upstream_sent_ || att_.ttfb_ms < 0) {
        t_first_byte_ = core::Clock::now();
        if (att_.ttfb_ms < 0) att_.ttfb_ms = core::ms_between(t_upstream_sent_, t_first_byte_);
      }
      moved = true;
      continue;
    }
    if (n == 0 && !up_->eof()) {
      up_readable_ = false;
      return moved;
    }
    // EOF or error from the upstream.
    if (up_->eof() && resp_head_done_ && resp_.framing == http::BodyFraming::kUntilClose) {
      if (resp_chunked_out_) down_out_.append("0\r\n\r\n");
      response_done_ = true;
      resp_.keep_alive = false;
      continue;
    }
    bool nothing_received = !resp_head_done_ && up_->in().empty() && !interim_seen_;
    upstream_failed(502, "upstream-reset", nothing_received);
    return true;
  }
  return moved;
}

bool HttpConnection::can_splice() const {
  return listener().splice && !splice_refused_ && resp_head_done_ && resp_.framing == http::BodyFraming::kContentLength &&
         !resp_chunked_out_ && resp_body_remaining_ >= kSpliceMinBody && down_out_.empty() && up_ &&
         up_->in().empty() && !up_->tls() && !sock_.is_tls();
}

bool HttpConnection::pump_spliced(bool moved) {
  for (int rounds = 0;; ++rounds) {
    if (rounds == kSpliceRoundsPerTurn) {
      // A fast pair of sockets never runs dry: yield to the worker's other connections
      // and timers, and go on in the next turn of the loop.
      resume_.arm(core::Millis(0));
      return false;
    }
    while (pipe_bytes_) {
      if (!down_writable_) return moved;
      ssize_t w = sock_.splice_from(pipe_.read_fd, pipe_bytes_);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          down_writable_ = false;  // progress() watches the client for room
          return moved;
        }
        client_eof_ = true;
        close();
        return false;
      }
      pipe_bytes_ -= static_cast<size_t>(w);
      bytes_sent_ += static_cast<uint64_t>(w);
      lstats_->spliced_bytes.inc(static_cast<uint64_t>(w));
      last_progress_ = ctx_.loop.now();
      moved = true;
    }
    if (resp_body_remaining_ == 0) {
      // Bytes the upstream sent past its Content-Length are still in its socket, and
      // their readiness edge was this connection's: read them (or its FIN) now, so that
      // response_complete() (bytes in the buffer) or the pool (EOF) retires the
      // connection instead of pooling it with a stray response inside.
      ssize_t extra = up_->read_into_buffer();
      if (extra < 0) resp_.keep_alive = false;  // a reset: not for the pool either
      else if (extra == 0 && !up_->eof()) up_readable_ = false;  // known drained: poolable
      end_splice();
      response_done_ = true;
      response_complete();
      return true;
    }
    if (!up_readable_) return moved;
    size_t want = static_cast<size_t>(std::min<uint64_t>(resp_body_remaining_, core::PipePool::kPipeBytes));
    ssize_t r = up_->splice_to(pipe_.write_fd, want);
    if (r > 0) {
      pipe_bytes_ += static_cast<size_t>(r);
      resp_body_remaining_ -= static_cast<uint64_t>(r);
      moved = true;
      continue;
    }
    if (r == 0 && !up_->eof()) {  // the pipe is empty here, so it is the socket that has none
      up_readable_ = false;
      return moved;
    }
    // The upstream closed or failed before the end of the body: the head is out, so the
    // client's connection is cut (upstream_failed) rather than the body made up.
    end_splice();
    upstream_failed(502, "upstream-reset", false);
    return true;
  }
}

void HttpConnection::end_splice() {
  if (!pipe_) return;
  ctx_.pipes.give_back(pipe_, pipe_bytes_ == 0);
  pipe_ = {};
  pipe_bytes_ = 0;
}

bool HttpConnection::handle_response_head() {
  auto& in = up_->in();
  int fail_status = 0;
  const char* why = "";
  bool upgrade = false;
  switch (read_upstream_head(in, listener().limits.h1, req_.is_head, upgrade_, resp_, fail_status, why)) {
    case UpstreamHead::kWait:
      return true;
    case UpstreamHead::kUpgrade:
      upgrade = true;
      break;
    case UpstreamHead::kFailed:
      upstream_failed(fail_status, why, false);
      return false;
    case UpstreamHead::kInterim:
      // 100 is answered by hop itself (it stripped Expect); other 1xx are informational and
      // forwarded to HTTP/1.1 clients.
      if (resp_.status != 100 && req_.version_minor == 1) down_out_.append(in.data(), resp_.head_bytes);
      in.consume(resp_.head_bytes);
      interim_seen_ = true;  // the upstream has the request: a failure now is no stale connection
      return true;
    case UpstreamHead::kFinal:
      break;
  }
  auto& cs = cluster().stats(ctx_.index);
  cs.responses[stats::status_class(resp_.status)].inc();
  if (att_.ttfb_ms >= 0) cs.ttfb.observe(att_.ttfb_ms);
  try_timer_.cancel();
  report(resp_.status >= 500 ? upstream::Outcome::k5xx : upstream::Outcome::kSuccess);
  if (resp_.status >= 500 || !route_->retries.status_codes.empty()) {
    // The response is dropped unread (the connection with it) when it is retried.
    if (retry(FailureKind::kStatus, resp_.status)) return false;
  }
  if (upgrade) {
    start_tunnel();
    return true;
  }
  status_ = resp_.status;
  resp_head_done_ = true;
  if (!req_body_done_) close_after_response_ = true;  // see response_complete()
  DownstreamResponseParams p;
  p.client_http10 = req_.version_minor == 0;
  if (resp_.framing == http::BodyFraming::kUntilClose) {
    if (p.client_http10) close_after_response_ = true;
    else resp_chunked_out_ = true;
  } else if (resp_.framing == http::BodyFraming::kChunked) {
    if (p.client_http10) close_after_response_ = true;  // 1.0 clients read until close
    else resp_chunked_out_ = true;
  }
  if (ctx_.draining) close_after_response_ = true;
  p.chunked = resp_chunked_out_;
  p.close = close_after_response_;
  std::string st;
  if (listener().server_timing) st = build_server_timing();
  p.server_timing = st;
  write_downstream_response_head(resp_, p, down_out_);
  resp_body_remaining_ = resp_.content_length;
  in.consume(resp_.head_bytes);
  resp_started_ = true;
  // From here the client is waiting on body bytes: the idle timeout guards progress.
  timer_.arm(listener().timeouts.idle);
  return true;
}

std::string HttpConnection::build_server_timing() const {
  const auto& host = cluster().hosts()[static_cast<size_t>(att_.host)].name;
  char buf[512];
  double pre = core::ms_between(t_start_, t_dispatch_);
  double total = core::ms_between(t_start_, ctx_.loop.now());
  std::snprintf(buf, sizeof buf,
                "hop-pre;dur=%.3f, upstream-connect;dur=%.3f;desc=\"%s\", upstream-ttfb;dur=%.3f;desc=\"%s\", "
                "retries;dur=0;desc=\"%u\", hop-total;dur=%.3f",
                pre, att_.connect_ms < 0 ? 0.0 : att_.connect_ms, att_.reused ? "reused" : "new",
                att_.ttfb_ms < 0 ? 0.0 : att_.ttfb_ms, host.c_str(), att_.attempts ? att_.attempts - 1 : 0, total);
  return buf;
}

void HttpConnection::response_complete() {
  // The upstream answered before the request body ended: the rest of that body is still
  // coming from the client and must never be parsed as a new request (smuggling). Close.
  if (!req_body_done_) close_after_response_ = true;
  // Reused only when nothing can follow the response: no bytes buffered, and the socket
  // known drained (its last read was short). A read that filled the buffer used up the
  // edge, so bytes left in the socket would never wake the pool's idle watch and the next
  // request — maybe another client's — would take them for its response.
  if (up_readable_ && resp_.keep_alive && up_ && up_->in().empty() && !up_hup_) {
    // The last read filled the buffer exactly (rare): one more read says whether the
    // socket is drained -- cheaper than a new connection for every such response.
    ssize_t extra = up_->read_into_buffer();
    if (extra == 0 && !up_->eof()) up_readable_ = false;
  }
  // A refused upgrade (any answer but 101) ends the connection too: a backend that switched
  // protocols anyway would otherwise get the next client's request.
  bool reusable = resp_.keep_alive && req_body_done_ && up_ && up_->in().empty() && up_body_.empty() &&
                  !up_readable_ && !up_hup_ && !up_write_failed_ && !up_->tls_pending() && !upgrade_;
  release_upstream(reusable);
  finish_request();
}

void HttpConnection::release_upstream(bool reusable) {
  if (pool_ && phase_ == Phase::kWaitingUpstream) pool_->cancel(*this);
  att_.release_host(ctx_);
  if (up_) {
    up_->attach(nullptr);
    up_->pool().release(*up_, reusable);
    up_ = nullptr;
  }
  pool_ = nullptr;
}

void HttpConnection::upstream_failed(int status, const char* hop_error, bool retryable_reset) {
  bool was_reused = att_.reused;
  bool reset = std::string_view(hop_error) == "upstream-reset";
  if (reset) cluster().stats(ctx_.index).resets.inc();
  release_upstream(false);
  // A reused connection that the upstream had already closed cost this request nothing
  // yet: nothing of the response arrived and everything sent is in the replay copy, so
  // it goes again on a fresh connection. Not a retry: it counts against no budget.
  if (retryable_reset && was_reused && replay_ok_ && !resp_started_ && att_.allow_stale_resend()) {
    try_timer_.cancel();  // a fresh try: the dead connection's time is not the host's
    start_attempt();
    return;
  }
  if (!resp_started_) {
    // A new connection that failed before any response byte never worked: to outlier
    // detection that is a failed connect (a host that died with connections in its accept
    // queue resets them), not an error of a host that serves.
    report(reset && retryable_reset && !was_reused ? upstream::Outcome::kConnectFailure : upstream::Outcome::kReset);
    if (reset && retryable_reset && retry(FailureKind::kReset, 0)) return;
  }
  hop_error_ = hop_error;
  if (resp_started_) {
    close();
    return;
  }
  reply_with_error(status, hop_error);
}

// Answers with hop's own error in place of the upstream's response. Interim responses
// may be queued or partly written: the queue is dropped, but once part of one has gone
// out a new response would land inside it, so the connection is closed instead.
void HttpConnection::reply_with_error(int status, const char* hop_error) {
  if (down_out_sent_ > 0) {
    close();
    return;
  }
  down_out_.clear();
  local_reply(status, std::string(hop_error) + "\n", hop_error, true);
}

void HttpConnection::local_reply(int status, std::string_view body, std::string_view hop_error, bool close,
                                 std::string_view location, std::string_view content_type) {
  status_ = status;
  if (!hop_error.empty()) hop_error_ = hop_error.data();
  close_after_response_ = close_after_response_ || close || ctx_.draining;
  write_local_response(status, content_type, body, hop_error, location, close_after_response_,
                       req_.is_head && !method_.empty(), down_out_);
  bytes_sent_ = body.size();
  phase_ = Phase::kLocalReply;
  timer_.arm(listener().timeouts.idle);
}

void HttpConnection::finish_request() {
  log_request();
  if (close_after_response_) {
    end_connection();
    return;
  }
  phase_ = Phase::kIdle;
  timer_.arm(listener().timeouts.idle);
  if (!in_.empty()) progress();  // a pipelined request is waiting (progress guards re-entry)
}

void HttpConnection::log_request() {
  if (!in_request_) return;
  in_request_ = false;
  att_.end(*snap_);
  double total = core::ms_between(t_start_, ctx_.loop.now());
  lstats_->responses[stats::status_class(status_)].inc();
  // A WebSocket session's hours are not a request's latency.
  if (status_ != 101) lstats_->duration.observe(total);
  if (ctx_.access_log.enabled()) {
    AccessLogEntry e;
    e.listener = listener().name;
    e.client = peer_ip_;
    e.method = method_;
    e.path = path_;
    e.status = status_;
    e.bytes_received = bytes_received_;
    e.bytes_sent = bytes_sent_;
    e.duration_ms = total;
    att_.describe(*snap_, e);
    e.error = hop_error_;
    ctx_.access_log.log(e, unix_now_ms());
  }
}

void HttpConnection::end_connection() {
  // A client that said close, whose request was read to its end and that sent nothing after
  // it, will send nothing more: close() sends the FIN at once, without the half-close, the
  // lingering reads and their timer, and no late byte can draw a RST that would destroy the
  // response (nginx decides the same way). TLS connections linger to send close_notify.
  if (client_eof_ || (client_asked_close_ && req_body_done_ && in_.empty() && !sock_.is_tls())) {
    phase_ = Phase::kIdle;  // nothing is in flight: close() must not count it as a 499
    close();
    return;
  }
  linger();
}

void HttpConnection::linger() {
  // Half-close, then read and drop what the client still sends until it closes too.
  sock_.shutdown_write();
  phase_ = Phase::kLingering;
  in_.clear();
  in_.release_if_empty();
  timer_.arm(kLingerTime);
  down_readable_ = true;
}

void HttpConnection::on_timer() {
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kLingering:
      close();
      break;
    case Phase::kReadingHead:
      if (proxy_header_pending_) {  // no PROXY header in time: closed unanswered, as a bad one
        lstats_->protocol_errors.inc();
        close();
        break;
      }
      method_.clear();
      path_.clear();
      in_request_ = true;
      t_start_ = ctx_.loop.now();
      lstats_->requests.inc();
      local_reply(408, "request header timeout\n", "", true);
      break;
    case Phase::kWaitingUpstream:
    case Phase::kProxying:
    case Phase::kBackoff:
      // An idle timer on progress (upload, download).
      if ((resp_started_ || !req_body_done_) && !idle_expired(listener().timeouts.idle)) break;
      if (!resp_started_) {
        if (phase_ != Phase::kBackoff) cluster().stats(ctx_.index).timeouts.inc();
        release_upstream(false);
        retry_timer_.cancel();
        try_timer_.cancel();
        hop_error_ = "upstream-timeout";
        reply_with_error(504, "upstream-timeout");
      } else {
        hop_error_ = "idle-timeout";
        release_upstream(false);
        close();
      }
      break;
    case Phase::kLocalReply:
      close();  // the client does not read its error response
      break;
    case Phase::kTunnel:
      if (idle_expired(listener().timeouts.tunnel_idle)) {
        hop_error_ = "tunnel-idle-timeout";
        close();
      }
      break;
    case Phase::kExchange:
      // Armed once the response head is out (the exchange runs the request's timeouts
      // before that): the same idle rule as a proxied response.
      if (idle_expired(listener().timeouts.idle)) {
        if (exchange_) exchange_->abandon("idle-timeout");  // the exchange writes the log line
        close();
      }
      break;
    case Phase::kClosed:
      break;
  }
  progress();
}

bool HttpConnection::idle_expired(core::Millis idle) {
  // Bytes that moved since the timer was armed push the deadline out (the timer is not
  // re-armed on every byte), so a transfer that is flowing is never cut.
  auto since = ctx_.loop.now() - last_progress_;
  if (since >= idle) return true;
  timer_.arm(std::chrono::duration_cast<core::Millis>(idle - since) + core::Millis(1));
  return false;
}

void HttpConnection::on_try_timeout() {
  if ((phase_ != Phase::kWaitingUpstream && phase_ != Phase::kProxying) || resp_started_) return;
  cluster().stats(ctx_.index).timeouts.inc();
  report(upstream::Outcome::kTimeout);
  if (!retry(FailureKind::kPerTryTimeout, 0)) {
    release_upstream(false);
    hop_error_ = "upstream-timeout";
    reply_with_error(504, "upstream-timeout");
  }
  progress();
}

void HttpConnection::drain() {
  close_after_response_ = true;
  if (phase_ == Phase::kIdle) {
    close();
    progress();
  }
}

void HttpConnection::close() {
  if (phase_ == Phase::kClosed) return;
  if (exchange_) {
    exchange_->cancel();  // logs 499 unless the response was complete
    exchange_.reset();
  }
  if (phase_ == Phase::kProxying || phase_ == Phase::kWaitingUpstream || phase_ == Phase::kBackoff) {
    if (status_ == 0) status_ = 499;  // client went away (nginx's convention)
    release_upstream(false);
  }
  if (phase_ == Phase::kTunnel) end_tunnel();
  log_request();
  end_splice();
  phase_ = Phase::kClosed;
  timer_.cancel();
  resume_.cancel();
  try_timer_.cancel();
  retry_timer_.cancel();
  abort_watch_.cancel();
  sock_.close();
  ctx_.unlink(this);
  lstats_->active_connections.add(-1);
  in_.clear();
  in_.release_if_empty();
  if (!in_progress_ && !destroyed_) {
    destroyed_ = true;
    HttpConnection* self = this;
    ctx_.loop.defer([self] { delete self; });
  }
}

}  // namespace hop::proxy
