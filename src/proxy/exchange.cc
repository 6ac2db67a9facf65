#include "proxy/exchange.h"

#include <sys/epoll.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "http/trailers.h"
#include "proxy/head_writer.h"
#include "proxy/request_path.h"
#include "proxy/router.h"
#include "proxy/upstream_head.h"
#include "upstream/balancer.h"
#include "upstream/outlier_detector.h"

namespace hop::proxy {

namespace {
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
// Body bytes framed for an HTTP/1.1 upstream but not yet written: above this, hop stops
// taking more from the client's buffer (and so stops crediting its window).
constexpr size_t kMaxUpstreamOut = 64 * 1024;

}  // namespace

Exchange::Exchange(WorkerContext& ctx, std::shared_ptr<const Snapshot> snap, size_t listener_index,
                   std::string_view peer_ip, std::string_view scheme, std::string_view protocol,
                   http::StreamSink& sink)
    : ctx_(ctx), snap_(std::move(snap)), listener_index_(listener_index), peer_ip_(peer_ip), scheme_(scheme),
      protocol_(protocol), sink_(sink), timer_(ctx.loop, [this] { on_timer(); }), try_timer_(ctx.loop, [this] { on_try_timeout(); }),
      retry_timer_(ctx.loop,
                   [this] {
                     if (phase_ == Phase::kBackoff) {
                       start_attempt();
                       progress();
                     }
                   }),
      resume_(ctx.loop, [this] { progress(); }) {}

Exchange::~Exchange() {
  if (!logged_) cancel();
}

const config::Listener& Exchange::listener() const { return snap_->config->listeners[listener_index_]; }

bool Exchange::upstream_is_h2() const {
  auto p = cluster().config().protocol;
  return p == config::UpstreamProtocol::kHttp2 || p == config::UpstreamProtocol::kH2c ||
         p == config::UpstreamProtocol::kAuto;
}

const upstream::Cluster& Exchange::cluster() const { return snap_->clusters[att_.cluster]; }

void Exchange::report(upstream::Outcome outcome) {
  upstream::record_outcome(cluster(), static_cast<size_t>(att_.last_host), outcome, core::to_ms(ctx_.loop.now()),
                           cluster().stats(ctx_.index));
}

void Exchange::add_header(std::string_view name, std::string_view value) {
  if (name == "cookie") {
    if (!cookie_.empty()) cookie_.append("; ");
    cookie_.append(value);
    return;
  }
  fields_.push_back({static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(arena_.size() + name.size())});
  lens_.push_back(static_cast<uint32_t>(name.size()));
  lens_.push_back(static_cast<uint32_t>(value.size()));
  arena_.append(name);
  arena_.append(value);
}

void Exchange::start(bool end_stream) {
  t_start_ = ctx_.loop.now();
  last_progress_ = t_start_;
  if (!counted_by_codec_) snap_->listener_stats[listener_index_][ctx_.index]->requests.inc();
  bytes_received_ = head_bytes_;

  // A RequestHead of views, so the router and the HTTP/1.1 head writer serve both codecs.
  req_.method = method_;
  req_.target = path_;
  req_.origin_target = path_;
  auto q = path_.find('?');
  req_.path = std::string_view(path_).substr(0, q);
  req_.version_minor = 1;
  req_.is_head = method_ == "HEAD";
  req_.headers.clear();
  std::string_view host_header;
  for (size_t i = 0; i < fields_.size(); ++i) {
    std::string_view name(arena_.data() + fields_[i].first, lens_[2 * i]);
    std::string_view value(arena_.data() + fields_[i].second, lens_[2 * i + 1]);
    if (name == "host") host_header = value;
    req_.headers.add(name, value);
  }
  if (!cookie_.empty()) req_.headers.add("cookie", cookie_);
  // RFC 9113 §8.3.1: :authority wins over Host.
  if (authority_.empty()) authority_.assign(host_header);
  req_.host = authority_;
  req_body_done_ = end_stream;
  if (end_stream) req_.framing = http::BodyFraming::kNone;
  else if (has_content_length_) req_.framing = http::BodyFraming::kContentLength;
  else req_.framing = http::BodyFraming::kChunked;
  req_.content_length = content_length_;
  if (end_stream && has_content_length_ && content_length_ == 0) req_.framing = http::BodyFraming::kContentLength;

  if (method_ == "CONNECT") {
    local_reply(501, "CONNECT is not supported\n", "");
    return;
  }
  if (listener().normalize_path && !normalize_request_path(req_, norm_target_)) {
    local_reply(400, "invalid percent-encoding in path\n", "");
    return;
  }
  const auto* vh = select_vhost(listener(), authority_);
  const config::Route* route = vh ? select_route(*vh, req_.method, req_.path, req_.headers) : nullptr;
  if (!route) {
    local_reply(404, "no route\n", "no-route");
    return;
  }
  route_ = route;
  using A = config::Route::Action;
  if (route->action == A::kDirect) {
    local_reply(route->direct.status, route->direct.body, "", {}, route->direct.content_type);
    return;
  }
  if (route->action == A::kRedirect) {
    const auto& rd = route->redirect;
    std::string location;
    std::string_view host = rd.host.empty() ? std::string_view(authority_) : std::string_view(rd.host);
    if (!host.empty()) {
      location = rd.scheme.empty() ? std::string(scheme_) : rd.scheme;
      location += "://";
      location += host;
    }
    location += rd.path.empty() ? std::string(req_.path) : rd.path;
    if (!rd.strip_query && q != std::string::npos) location += path_.substr(q);
    local_reply(rd.code, "", "", location, "");
    return;
  }
  dispatch(*route);
}

void Exchange::reject(int status, std::string_view body) {
  t_start_ = ctx_.loop.now();
  auto* lstats = snap_->listener_stats[listener_index_][ctx_.index];
  lstats->requests.inc();
  lstats->protocol_errors.inc();
  req_.target = path_;
  local_reply(status, body, "");
}

void Exchange::dispatch(const config::Route& route) {
  if (!att_.begin(ctx_, *snap_, route, peer_ip_, req_.headers)) {
    local_reply(503, "overflow\n", "overflow");
    return;
  }
  build_h1_head();
  if (req_body_done_) timer_.arm(route.timeout ? *route.timeout : listener().timeouts.request);
  else timer_.arm(listener().timeouts.idle);
  start_attempt();
}

// The upstream head for HTTP/1.1 (kept for HTTP/2 upstreams too: its target is the
// rewritten path). Built once per request; each attempt resends it.
void Exchange::build_h1_head() {
  target_ = req_.origin_target;  // the path as sent, or normalized
  if (route_->prefix_rewrite) {
    std::string rewritten = *route_->prefix_rewrite;
    std::string_view rest = req_.origin_target.substr(route_->match.path.size());
    if (!rewritten.empty() && rewritten.back() == '/' && !rest.empty() && rest[0] == '/') rest.remove_prefix(1);
    rewritten.append(rest);
    target_ = std::move(rewritten);
  }
  char traceparent[64];
  traceparent_.clear();
  if (!req_.headers.has("traceparent"))
    traceparent_.assign(traceparent, make_traceparent(ctx_.random(), ctx_.random(), ctx_.random(), traceparent));
  UpstreamRequestParams params{target_, peer_ip_, traceparent_, {}, {}};
  params.proto = scheme_;
  params.via = protocol_ == "HTTP/2" ? "2 hop" : "1.1 hop";
  params.host_override = authority_;  // RFC 9113 §8.3.1: :authority becomes Host
  const upstream::Cluster& cluster = snap_->clusters[att_.cluster];
  std::string host_fallback;
  if (req_.host.empty() && !cluster.hosts().empty()) {
    host_fallback = cluster.hosts()[0].name;
    params.host_fallback = host_fallback;
  }
  // `auto` clusters may end up speaking HTTP/1.1 to a host: they need the head too.
  auto protocol = cluster.config().protocol;
  if (protocol == config::UpstreamProtocol::kHttp1 || protocol == config::UpstreamProtocol::kAuto)
    write_upstream_request_head(req_, params, up_head_);
}

void Exchange::start_attempt() {
  if (att_.pick(ctx_, *snap_) < 0) {
    local_reply(503, "no upstream host\n", "no-healthy-upstream");
    return;
  }
  up_head_sent_ = 0;
  chunk_frame_.clear();
  chunk_frame_sent_ = 0;
  body_end_framed_ = false;
  replay_pos_ = 0;
  resp_head_done_ = false;
  resp_chunked_.reset();
  phase_ = Phase::kWaitingUpstream;
  t_connect_start_ = core::Clock::now();
  // A try's timeout runs once the whole request is with hop (see HttpConnection::arm_try_timer).
  if (route_->retries.per_try_timeout && req_body_done_) try_timer_.arm(*route_->retries.per_try_timeout);
  upstream::H2Pool* h2pool = upstream_is_h2() ? &att_.h2pool(ctx_, *snap_) : nullptr;
  // `auto`: a host that chose HTTP/1.1 by ALPN is spoken to through the HTTP/1.1 pool.
  if (h2pool && h2pool->http1_only() && cluster().config().protocol == config::UpstreamProtocol::kAuto)
    h2pool = nullptr;
  if (h2pool) {
    h2pool_ = h2pool;
    h2pool_->acquire(*this);
  } else {
    pool_ = &att_.pool(ctx_, *snap_);
    pool_->acquire(*this);
  }
}

void Exchange::push_body(const uint8_t* data, size_t len) {
  if (phase_ == Phase::kDone || logged_) {
    sink_.on_request_body_consumed(len);  // nobody wants it: keep the client's window open
    return;
  }
  if (req_body_sent_ && req_body_sent_ == req_body_.size()) {
    req_body_.clear();
    req_body_sent_ = 0;
  }
  req_body_.append(reinterpret_cast<const char*>(data), len);
  bytes_received_ += len;
  last_progress_ = ctx_.loop.now();
  if (phase_ == Phase::kProxying || phase_ == Phase::kResponding) {
    if (h2_) h2_->resume_body(stream_id_);
    else resume_.arm(core::Millis(0));
  }
}

void Exchange::end_body() {
  if (req_body_done_) return;
  req_body_done_ = true;
  if (phase_ != Phase::kNew && phase_ != Phase::kDone) {
    if (!resp_started_) timer_.arm(route_->timeout ? *route_->timeout : listener().timeouts.request);
    if (!resp_started_ && route_->retries.per_try_timeout && (phase_ == Phase::kWaitingUpstream || phase_ == Phase::kProxying))
      try_timer_.arm(*route_->retries.per_try_timeout);
    if (h2_) h2_->resume_body(stream_id_);
    else resume_.arm(core::Millis(0));
  }
}

void Exchange::on_pool_ready(upstream::UpstreamConnection& c, bool fresh) {
  up_ = &c;
  c.attach(this);
  att_.reused = !fresh;
  att_.connect_ms = fresh ? core::ms_between(t_connect_start_, core::Clock::now()) : 0.0;
  up_readable_ = false;  // nothing to read before the request goes out (see HttpConnection)
  up_writable_ = true;
  up_hup_ = false;
  up_write_failed_ = false;
  interim_seen_ = false;
  resp_head_partial_ = false;
  phase_ = Phase::kProxying;
  progress();
}

void Exchange::on_pool_failure(upstream::PoolFailure why, int error) {
  if (phase_ != Phase::kWaitingUpstream) return;
  pool_ = nullptr;
  h2pool_ = nullptr;
  release_upstream(false);
  const char* err = upstream::to_string(why);
  if (why == upstream::PoolFailure::kConnectFailed || why == upstream::PoolFailure::kConnectTimeout) {
    report(upstream::Outcome::kConnectFailure);
    if (retry(error == ECONNREFUSED ? FailureKind::kRefused : FailureKind::kConnectFailure, 0)) return;
  }
  local_reply(503, std::string(err) + "\n", err);
}

void Exchange::on_upstream_io(upstream::UpstreamConnection&, uint32_t events) {
  if (events & kReadEvents) up_readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) up_hup_ = true;
  if (events & EPOLLOUT) up_writable_ = true;
  progress();
}

void Exchange::progress() {
  if (in_progress_) return;
  in_progress_ = true;
  auto active = [this] { return (phase_ == Phase::kProxying || phase_ == Phase::kResponding) && up_; };
  for (int spins = 0; spins < 64 && active(); ++spins) {
    bool a = pump_request();
    if (!active()) break;
    bool b = pump_response();
    if (!a && !b) break;
  }
  in_progress_ = false;
}

// Request bytes toward the HTTP/1.1 upstream: head, then the replay copy (on a retry),
// then new body bytes, framed as chunks when the length is unknown.
bool Exchange::pump_request() {
  if (up_write_failed_) return false;
  bool moved = false;
  bool chunked = req_.framing == http::BodyFraming::kChunked;
  for (;;) {
    // Frame more body into chunk_frame_ when it has drained.
    if (chunk_frame_sent_ == chunk_frame_.size()) {
      chunk_frame_.clear();
      chunk_frame_sent_ = 0;
      auto frame = [&](std::string_view data) {
        if (chunked && !data.empty()) {
          char hdr[24];
          chunk_frame_.append(hdr, http::chunk_header(data.size(), hdr));
        }
        chunk_frame_.append(data);
        if (chunked && !data.empty()) chunk_frame_.append("\r\n");
      };
      if (replay_pos_ < replay_.size()) {
        frame(std::string_view(replay_).substr(replay_pos_));
        replay_pos_ = replay_.size();
      }
      size_t fresh = req_body_.size() - req_body_sent_;
      if (fresh && chunk_frame_.size() < kMaxUpstreamOut) {
        size_t take = std::min(fresh, kMaxUpstreamOut);
        std::string_view data(req_body_.data() + req_body_sent_, take);
        frame(data);
        remember_for_replay(data);
        req_body_sent_ += take;
        replay_pos_ = replay_.size();
        sink_.on_request_body_consumed(take);
        if (req_body_sent_ == req_body_.size()) {
          req_body_.clear();
          req_body_sent_ = 0;
        }
      }
      if (req_body_done_ && req_body_.empty() && chunked && !body_end_framed_) {
        chunk_frame_.append("0\r\n\r\n");
        body_end_framed_ = true;
      }
    }
    iovec iov[2];
    int cnt = 0;
    size_t head_len = up_head_.size() - up_head_sent_;
    size_t body_len = chunk_frame_.size() - chunk_frame_sent_;
    if (head_len) iov[cnt++] = {up_head_.data() + up_head_sent_, head_len};
    if (body_len) iov[cnt++] = {chunk_frame_.data() + chunk_frame_sent_, body_len};
    if (cnt == 0 || !up_writable_) break;
    ssize_t n = up_->writev(iov, cnt);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        up_writable_ = false;
        break;
      }
      // As in HttpConnection::pump_request: an early answer may wait in the socket; read
      // it, and fail (or resend) only if nothing of an answer comes.
      up_write_failed_ = true;
      up_readable_ = true;
      return true;
    }
    moved = true;
    size_t w = static_cast<size_t>(n);
    size_t from_head = std::min(w, head_len);
    up_head_sent_ += from_head;
    if (head_len && up_head_sent_ == up_head_.size()) t_sent_ = core::Clock::now();
    chunk_frame_sent_ += w - from_head;
    if (w < head_len + body_len) {
      up_writable_ = false;
      break;
    }
  }
  return moved;
}

size_t Exchange::response_room() const {
  size_t held = resp_body_.size() - resp_body_read_;
  return held >= limits_.response_buffer ? 0 : limits_.response_buffer - held;
}

bool Exchange::pump_response() {
  bool moved = false;
  auto& in = up_->in();
  for (int rounds = 0; rounds < 16; ++rounds) {
    if (!resp_head_done_ && !in.empty() && !resp_head_partial_) {
      size_t before = in.size();
      if (!handle_response_head()) return true;
      resp_head_partial_ = !resp_head_done_ && in.size() == before;
      if (!resp_head_partial_) {
        moved = true;
        continue;
      }
    }
    if (resp_head_done_ && !resp_complete_ && !in.empty() && response_room() > 0) {
      size_t before = resp_body_.size();
      if (resp_.framing == http::BodyFraming::kChunked) {
        while (!in.empty() && response_room() > 0) {
          auto r = resp_chunked_.decode(in.view());
          in.consume(r.consumed);
          if (r.status == http::ChunkedDecoder::Status::kError) {
            hop_error_ = "upstream-protocol-error";
            release_upstream(false);
            sink_.on_stream_reset();
            finish();
            return true;
          }
          if (r.status == http::ChunkedDecoder::Status::kData) resp_body_.append(r.data);
          else if (r.status == http::ChunkedDecoder::Status::kDone) {
            trailers_ = http::forwardable_trailers(resp_chunked_.trailer_block(), true);
            resp_chunked_.forget_trailers();
            resp_complete_ = true;
            break;
          } else {
            break;
          }
        }
      } else {
        size_t take = std::min(in.size(), response_room());
        if (resp_.framing == http::BodyFraming::kContentLength)
          take = static_cast<size_t>(std::min<uint64_t>(take, resp_remaining_));
        resp_body_.append(in.data(), take);
        in.consume(take);
        if (resp_.framing == http::BodyFraming::kContentLength) {
          resp_remaining_ -= take;
          if (resp_remaining_ == 0) resp_complete_ = true;
        }
      }
      if (resp_body_.size() != before || resp_complete_) {
        moved = true;
        if (resp_complete_) response_done();
        sink_.on_response_data();
        if (resp_complete_ || !up_) return true;
      }
    }
    if (resp_complete_) return moved;
    if (resp_head_done_ && response_room() == 0) return moved;  // the client is slow: stop reading
    if (!up_readable_ || in.writable() == 0) return moved;
    size_t room = in.writable();
    ssize_t n = up_->read_into_buffer();
    if (n > 0) {
      resp_head_partial_ = false;
      if (static_cast<size_t>(n) < room && !up_hup_) up_readable_ = false;
      if (att_.ttfb_ms < 0) att_.ttfb_ms = core::ms_between(t_sent_, core::Clock::now());
      moved = true;
      continue;
    }
    if (n == 0 && !up_->eof()) {
      up_readable_ = false;
      return moved;
    }
    if (up_->eof() && resp_head_done_ && resp_.framing == http::BodyFraming::kUntilClose) {
      resp_.keep_alive = false;
      resp_complete_ = true;
      response_done();
      sink_.on_response_data();
      return true;
    }
    bool nothing_received = !resp_head_done_ && in.empty() && !interim_seen_;
    upstream_failed(502, "upstream-reset", nothing_received);
    return true;
  }
  return moved;
}

bool Exchange::handle_response_head() {
  auto& in = up_->in();
  int fail_status = 0;
  const char* why = "";
  switch (read_upstream_head(in, listener().limits.h1, req_.is_head, false, resp_, fail_status, why)) {
    case UpstreamHead::kWait:
      return true;
    case UpstreamHead::kUpgrade:  // never asked for from here (false above): a 101 is a failure
      upstream_failed(502, "upstream-upgrade-unsupported", false);
      return false;
    case UpstreamHead::kFailed:
      upstream_failed(fail_status, why, false);
      return false;
    case UpstreamHead::kInterim:
      in.consume(resp_.head_bytes);  // interim responses are not relayed to HTTP/2 clients
      interim_seen_ = true;          // (but the upstream has the request: never resent as stale)
      return true;
    case UpstreamHead::kFinal:
      break;
  }
  // Per-worker scratch (workers are threads): no allocation per response once warm.
  static thread_local HeaderPairs headers;
  static thread_local std::string names;  // lowercased names, back to back
  headers.clear();
  names.clear();
  for (const auto& h : resp_.headers)
    if (!is_hop_by_hop(h.name, resp_.headers, resp_.connection_options)) http::append_lowercase(names, h.name);
  size_t at = 0;
  for (const auto& h : resp_.headers) {
    if (is_hop_by_hop(h.name, resp_.headers, resp_.connection_options)) continue;
    headers.push_back({std::string_view(names).substr(at, h.name.size()), h.value});
    at += h.name.size();
  }
  resp_remaining_ = resp_.content_length;
  bool no_body = resp_.framing == http::BodyFraming::kNone ||
                 (resp_.framing == http::BodyFraming::kContentLength && resp_.content_length == 0);
  size_t head_bytes = resp_.head_bytes;
  deliver_head(resp_.status, headers, no_body);
  if (phase_ != Phase::kResponding && phase_ != Phase::kProxying) return false;  // retried
  in.consume(head_bytes);
  resp_head_done_ = true;
  if (no_body) {
    resp_complete_ = true;
    response_done();
    sink_.on_response_data();
    return false;
  }
  return true;
}

// Common to both upstream codecs: stats, outlier report, retry on status, then the head to
// the client.
void Exchange::deliver_head(int status, const HeaderPairs& headers, bool end_stream) {
  auto& cs = cluster().stats(ctx_.index);
  cs.responses[stats::status_class(status)].inc();
  if (att_.ttfb_ms >= 0) cs.ttfb.observe(att_.ttfb_ms);
  try_timer_.cancel();
  report(status >= 500 ? upstream::Outcome::k5xx : upstream::Outcome::kSuccess);
  if ((status >= 500 || !route_->retries.status_codes.empty()) && retry(FailureKind::kStatus, status)) return;
  status_ = status;
  resp_started_ = true;
  if (phase_ == Phase::kProxying) phase_ = Phase::kResponding;
  timer_.arm(listener().timeouts.idle);
  sink_.on_response_head(status, headers, end_stream);
}

void Exchange::response_done() {
  // HTTP/1.1 upstream: the connection goes back to the pool if the message ended cleanly.
  if (up_) {
    // (As in HttpConnection::response_complete: the socket must be known drained.)
    bool reusable = resp_.keep_alive && req_body_done_ && req_body_.empty() && up_->in().empty() &&
                    chunk_frame_sent_ == chunk_frame_.size() && up_head_sent_ == up_head_.size() &&
                    !up_readable_ && !up_hup_ && !up_write_failed_ && !up_->tls_pending();
    release_upstream(reusable);
  }
  try_timer_.cancel();
}

size_t Exchange::read_body(uint8_t* buf, size_t len, bool& eof) {
  size_t held = resp_body_.size() - resp_body_read_;
  size_t n = std::min(len, held);
  if (n) {
    std::memcpy(buf, resp_body_.data() + resp_body_read_, n);
    resp_body_read_ += n;
    bytes_sent_ += n;
    last_progress_ = ctx_.loop.now();
    if (resp_body_read_ == resp_body_.size()) {
      resp_body_.clear();
      resp_body_read_ = 0;
    } else if (resp_body_read_ > limits_.response_buffer) {
      resp_body_.erase(0, resp_body_read_);
      resp_body_read_ = 0;
    }
    if (h2_) h2_->consume(stream_id_, n);
    // The upstream may have stopped for room: continue outside the codec's callback.
    if (up_ && !resp_complete_) resume_.arm(core::Millis(0));
  }
  eof = resp_complete_ && resp_body_read_ == resp_body_.size();
  if (eof && !logged_) {
    phase_ = Phase::kDone;
    finish();
  }
  return n;
}

void Exchange::local_reply(int status, std::string_view body, const char* hop_error, std::string_view location,
                           std::string_view content_type) {
  status_ = status;
  if (hop_error && *hop_error) hop_error_ = hop_error;
  release_upstream(false);
  try_timer_.cancel();
  retry_timer_.cancel();
  timer_.arm(listener().timeouts.idle);
  bool no_content = status == 204 || status == 304 || req_.is_head;
  std::string length = std::to_string(body.size());
  HeaderPairs headers;
  headers.push_back({"server", "hop"});
  if (!content_type.empty() && status != 204 && status != 304) headers.push_back({"content-type", content_type});
  if (status != 204 && status != 304) headers.push_back({"content-length", length});
  if (*hop_error_) headers.push_back({"x-hop-error", hop_error_});
  if (!location.empty()) headers.push_back({"location", location});
  resp_body_.clear();
  resp_body_read_ = 0;
  if (!no_content) resp_body_.assign(body);
  resp_complete_ = true;
  resp_started_ = true;
  phase_ = Phase::kResponding;
  sink_.on_response_head(status, headers, resp_body_.empty());
  if (resp_body_.empty()) {
    phase_ = Phase::kDone;
    finish();
  } else {
    sink_.on_response_data();
  }
}

void Exchange::release_upstream(bool reusable) {
  if (phase_ == Phase::kWaitingUpstream) {
    if (pool_) pool_->cancel(*this);
    if (h2pool_) h2pool_->cancel(*this);
  }
  att_.release_host(ctx_);
  if (up_) {
    up_->attach(nullptr);
    up_->pool().release(*up_, reusable);
    up_ = nullptr;
  }
  if (h2_) {
    if (!resp_complete_ || !h2_ended_) h2_->cancel(stream_id_);
    h2_ = nullptr;
  }
  pool_ = nullptr;
  h2pool_ = nullptr;
}

void Exchange::remember_for_replay(std::string_view sent) {
  if (!replay_ok_ || sent.empty()) return;
  if (replay_.size() + sent.size() > route_->retries.max_buffered_body) {
    replay_ok_ = false;
    std::string().swap(replay_);
    return;
  }
  replay_.append(sent);
}

bool Exchange::retry(FailureKind kind, int status) {
  if (!att_.allow_retry(ctx_, *snap_, kind, status, method_, replay_ok_, resp_started_)) return false;
  release_upstream(false);
  try_timer_.cancel();
  resp_head_done_ = false;
  resp_chunked_.reset();
  phase_ = Phase::kBackoff;
  retry_timer_.arm(att_.backoff_for(kind, ctx_.random()));
  return true;
}

void Exchange::upstream_failed(int status, const char* hop_error, bool retryable_reset) {
  bool was_reused = att_.reused;
  bool reset = std::string_view(hop_error) == "upstream-reset";
  if (reset) cluster().stats(ctx_.index).resets.inc();
  release_upstream(false);
  // A reused connection the upstream had already closed cost this request nothing yet:
  // everything sent is in the replay copy, so it goes again on a fresh connection.
  if (retryable_reset && was_reused && replay_ok_ && !resp_started_ && att_.allow_stale_resend()) {
    start_attempt();
    return;
  }
  if (!resp_started_) {
    // A new connection that failed before any response byte never worked: to outlier
    // detection that is a failed connect (a host that died with connections in its accept
    // queue resets them), not an error of a host that serves.
    report(reset && retryable_reset && !was_reused ? upstream::Outcome::kConnectFailure : upstream::Outcome::kReset);
    if (reset && retryable_reset && retry(FailureKind::kReset, 0)) return;
    local_reply(status, std::string(hop_error) + "\n", hop_error);
    return;
  }
  hop_error_ = hop_error;
  sink_.on_stream_reset();
  finish();
}

void Exchange::on_try_timeout() {
  if ((phase_ != Phase::kWaitingUpstream && phase_ != Phase::kProxying) || resp_started_) return;
  cluster().stats(ctx_.index).timeouts.inc();
  report(upstream::Outcome::kTimeout);
  if (!retry(FailureKind::kPerTryTimeout, 0)) local_reply(504, "upstream-timeout\n", "upstream-timeout");
}

void Exchange::on_timer() {
  if (logged_) return;
  auto idle = listener().timeouts.idle;
  if (resp_started_ || !req_body_done_) {
    auto since = ctx_.loop.now() - last_progress_;
    if (since < idle) {
      timer_.arm(std::chrono::duration_cast<core::Millis>(idle - since) + core::Millis(1));
      return;
    }
  }
  if (!resp_started_) {
    if (phase_ != Phase::kBackoff && att_.route) cluster().stats(ctx_.index).timeouts.inc();
    local_reply(504, "upstream-timeout\n", "upstream-timeout");
  } else {
    hop_error_ = "idle-timeout";
    release_upstream(false);
    sink_.on_stream_reset();
    finish();
  }
}

void Exchange::cancel() {
  if (logged_) return;
  if (status_ == 0 || !resp_complete_) {
    if (!resp_started_) status_ = 499;
  }
  release_upstream(false);
  finish();
}

void Exchange::finish() {
  if (logged_) return;
  logged_ = true;
  phase_ = Phase::kDone;
  timer_.cancel();
  try_timer_.cancel();
  retry_timer_.cancel();
  resume_.cancel();
  if (up_ || h2_) release_upstream(false);
  att_.end(*snap_);
  // A stream whose header block never completed (nghttp2 refused it, the connection closed
  // mid-headers) was no request: nothing to count or log -- its 'duration' would be the
  // time since the clock's epoch. The connection counted the protocol error.
  if (t_start_ == core::TimePoint{}) return;
  auto* lstats = snap_->listener_stats[listener_index_][ctx_.index];
  double total = core::ms_between(t_start_, ctx_.loop.now());
  lstats->responses[stats::status_class(status_)].inc();
  lstats->duration.observe(total);
  if (ctx_.access_log.enabled()) {
    AccessLogEntry e;
    e.listener = listener().name;
    e.client = peer_ip_;
    e.method = method_;
    e.path = req_.target;
    e.protocol = protocol_;
    e.status = status_;
    e.bytes_received = bytes_received_;
    e.bytes_sent = bytes_sent_;
    e.duration_ms = total;
    att_.describe(*snap_, e);
    e.error = hop_error_;
    ctx_.access_log.log(e, unix_now_ms());
  }
}

// ---- HTTP/2 upstream -------------------------------------------------------------------

void Exchange::on_h2_ready(upstream::H2Session& s, bool fresh) {
  h2pool_ = nullptr;
  h2_ = &s;
  h2_ended_ = false;
  att_.reused = s.streams_opened() > 0;
  att_.connect_ms = fresh ? core::ms_between(t_connect_start_, core::Clock::now()) : 0.0;
  phase_ = Phase::kProxying;
  const upstream::Cluster& cluster = this->cluster();
  static thread_local HeaderPairs h;  // per-worker scratch: nghttp2 copies what it sends
  h.clear();
  h.push_back({":method", method_});
  h.push_back({":scheme", cluster.tls() ? "https" : "http"});
  h.push_back({":authority", authority_.empty() ? std::string_view(cluster.hosts()[0].name)
                                                : std::string_view(authority_)});
  h.push_back({":path", target_});
  std::string_view xff_prev;
  for (const auto& f : req_.headers) {
    if (f.name == "te") {
      if (http::list_contains(f.value, "trailers")) h.push_back({"te", "trailers"});  // gRPC needs it
      continue;
    }
    if (http::is_connection_specific(f.name)) continue;
    if (f.name == "x-forwarded-for") {
      xff_prev = f.value;
      continue;
    }
    if (f.name == "x-forwarded-proto") continue;
    h.push_back({f.name, f.value});
  }
  xff_ = xff_prev.empty() ? peer_ip_ : std::string(xff_prev) + ", " + peer_ip_;
  h.push_back({"x-forwarded-for", xff_});
  h.push_back({"x-forwarded-proto", scheme_});
  h.push_back({"via", protocol_ == "HTTP/2" ? "2 hop" : "1.1 hop"});
  if (!traceparent_.empty()) h.push_back({"traceparent", traceparent_});
  bool has_body = req_.framing != http::BodyFraming::kNone || !replay_.empty();
  if (req_.framing == http::BodyFraming::kContentLength && req_.content_length == 0) has_body = false;
  t_sent_ = core::Clock::now();
  stream_id_ = s.submit(*this, h, has_body);
  if (stream_id_ < 0) {
    h2_ = nullptr;
    on_h2_reset(true);
  }
}

void Exchange::on_h2_failure(upstream::PoolFailure why, int error) {
  if (why == upstream::PoolFailure::kHttp1Only && phase_ == Phase::kWaitingUpstream &&
      cluster().config().protocol == config::UpstreamProtocol::kAuto) {
    // The host answered ALPN with HTTP/1.1: same host, its HTTP/1.1 pool (not a retry).
    h2pool_ = nullptr;
    release_upstream(false);
    --att_.attempts;
    start_attempt();
    return;
  }
  on_pool_failure(why, error);
}

void Exchange::on_h2_headers(int status, const HeaderPairs& headers, bool end_stream) {
  if (att_.ttfb_ms < 0) att_.ttfb_ms = core::ms_between(t_sent_, core::Clock::now());
  static thread_local HeaderPairs out;  // per-worker scratch
  out.clear();
  for (const auto& h : headers)
    if (!http::is_connection_specific(h.first)) out.push_back(h);
  if (end_stream) h2_ended_ = true;
  deliver_head(status, out, end_stream);
  if (phase_ == Phase::kBackoff) return;  // retried on status
  if (end_stream) {
    resp_complete_ = true;
    h2_ = nullptr;
    release_upstream(true);
    phase_ = Phase::kDone;
    finish();
  }
}

void Exchange::on_h2_data(const uint8_t* data, size_t len) {
  if (!resp_started_) return;
  resp_body_.append(reinterpret_cast<const char*>(data), len);
  sink_.on_response_data();
}

void Exchange::on_h2_trailers(const HeaderPairs& trailers) {
  // Held until the client has read the body: bounded like a request's header list (RFC
  // 9113 §6.5.2 accounting); an upstream that sends more gets its trailers cut, not kept.
  size_t bytes = 0;
  for (const auto& t : trailers) {
    bytes += t.first.size() + t.second.size() + 32;
    if (bytes > listener().http2.max_header_list_size) break;
    if (!http::is_connection_specific(t.first)) trailers_.emplace_back(std::string(t.first), std::string(t.second));
  }
}

void Exchange::on_h2_end() {
  h2_ended_ = true;
  h2_ = nullptr;
  resp_complete_ = true;
  release_upstream(true);
  try_timer_.cancel();
  sink_.on_response_data();
}

void Exchange::on_h2_reset(bool refused) {
  h2_ended_ = true;
  h2_ = nullptr;
  if (resp_started_) {
    hop_error_ = "upstream-reset";
    cluster().stats(ctx_.index).resets.inc();
    release_upstream(false);
    sink_.on_stream_reset();
    finish();
    return;
  }
  if (refused && replay_ok_ && att_.allow_stale_resend()) {
    // The upstream never processed it (REFUSED_STREAM, GOAWAY): safe for any method.
    release_upstream(false);
    start_attempt();
    return;
  }
  upstream_failed(502, "upstream-reset", true);
}

size_t Exchange::h2_request_body(uint8_t* buf, size_t len, bool& eof) {
  size_t n = 0;
  if (replay_pos_ < replay_.size()) {
    n = std::min(len, replay_.size() - replay_pos_);
    std::memcpy(buf, replay_.data() + replay_pos_, n);
    replay_pos_ += n;
  } else {
    size_t fresh = req_body_.size() - req_body_sent_;
    n = std::min(len, fresh);
    if (n) {
      std::string_view data(req_body_.data() + req_body_sent_, n);
      std::memcpy(buf, data.data(), n);
      remember_for_replay(data);
      replay_pos_ = replay_.size();
      req_body_sent_ += n;
      if (req_body_sent_ == req_body_.size()) {
        req_body_.clear();
        req_body_sent_ = 0;
      }
      sink_.on_request_body_consumed(n);
    }
  }
  eof = req_body_done_ && replay_pos_ >= replay_.size() && req_body_.empty();
  return n;
}

}  // namespace hop::proxy
