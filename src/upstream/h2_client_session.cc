#include "upstream/h2_client_session.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/log.h"
#include "core/sys_io.h"
#include "tls/client_context.h"
#include "tls/tls_stream.h"

namespace hop::upstream {

namespace {
// The stream window bounds what one response can buffer in hop before its user consumes:
// 64 KiB, the same as a response from an HTTP/1.1 upstream, so a client's streams hold at
// most max_concurrent_streams x 64 KiB whatever the upstream speaks. The connection window
// is credited as bytes arrive (on_data_chunk), so it only paces the upstream's sending and
// never couples one client's stream to another's on the shared session.
constexpr int32_t kStreamWindow = 64 * 1024;
constexpr int32_t kConnectionWindow = 1 << 20;
// What RFC 9113 §6.5.2 lets a peer start with (unlimited) is not what it will accept; 100
// is the value RFC 9113 recommends as a minimum, and what nghttpd/nginx announce.
constexpr uint32_t kAssumedPeerStreams = 100;
constexpr uint32_t kOurMaxStreams = 100;   // pushes are off, so this only bounds the peer
constexpr size_t kOutBatch = 64 * 1024;    // produce at most this much ahead of the socket
constexpr size_t kMaxHeaderBytes = 256 * 1024;  // one response's header block, decoded

bool is_status(const uint8_t* name, size_t len) { return len == 7 && std::memcmp(name, ":status", 7) == 0; }
}  // namespace

// ---- nghttp2 callbacks -----------------------------------------------------------------

struct H2Callbacks {
  static H2ClientSession& self(void* ud) { return *static_cast<H2ClientSession*>(ud); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    auto& s = self(ud);
    s.hdr_bytes_.clear();
    s.hdr_index_.clear();
    if (auto* st = s.find(frame->hd.stream_id)) st->status = 0;
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
    auto& s = self(ud);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto* st = s.find(frame->hd.stream_id);
    if (!st || !st->user) return 0;
    if (is_status(name, namelen)) {
      int status = 0;
      std::from_chars(reinterpret_cast<const char*>(value), reinterpret_cast<const char*>(value) + valuelen, status);
      st->status = status;
      return 0;
    }
    if (namelen && name[0] == ':') return 0;  // nghttp2 has validated them; only :status matters
    if (s.hdr_bytes_.size() + namelen + valuelen > kMaxHeaderBytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s.hdr_bytes_.append(reinterpret_cast<const char*>(name), namelen);
    s.hdr_bytes_.append(reinterpret_cast<const char*>(value), valuelen);
    s.hdr_index_.push_back({static_cast<uint32_t>(namelen), static_cast<uint32_t>(valuelen)});
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    auto& s = self(ud);
    int32_t id = frame->hd.stream_id;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        auto* st = s.find(id);
        if (!st || !st->user) return 0;
        H2StreamUser* u = st->user;
        if (st->status) {
          if (st->status < 200 || st->final_seen) return 0;  // 1xx: not passed on (RFC 9110 §15.2)
          st->final_seen = true;
          if (end) s.detach(id, *st);  // the stream is complete with its head
          u->on_h2_headers(st->status, s.header_pairs(), end);
          return 0;
        }
        // No :status: trailers (nghttp2 only lets these through with END_STREAM).
        if (!st->final_seen || !end) return 0;
        u->on_h2_trailers(s.header_pairs());
        st = s.find(id);
        if (st && st->user == u) {
          s.detach(id, *st);
          u->on_h2_end();
        }
        return 0;
      }
      case NGHTTP2_DATA: {
        if (!end) return 0;
        auto* st = s.find(id);
        if (!st || !st->user) return 0;
        H2StreamUser* u = st->user;
        s.detach(id, *st);
        u->on_h2_end();
        return 0;
      }
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) s.slots_changed_ = true;
        return 0;
      case NGHTTP2_GOAWAY:
        // Streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM (the
        // peer never processed them); the others run to their end.
        s.goaway_ = true;
        s.slots_changed_ = true;
        return 0;
      default: return 0;
    }
  }

  static int on_data_chunk(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len, void* ud) {
    auto& s = self(ud);
    auto* st = s.find(id);
    if (!st || !st->user) {
      nghttp2_session_consume(session, id, len);  // nobody wants it: keep the windows open
      return 0;
    }
    // The connection window is credited at once and only the stream's waits for the user:
    // a client that reads slowly (or sets its window to 0) then stalls its own stream, not
    // every stream this session carries for other clients. What one stream holds is still
    // bounded by its window.
    nghttp2_session_consume_connection(session, len);
    st->unconsumed += len;
    st->user->on_h2_data(data, len);
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, int32_t id, uint32_t error_code, void* ud) {
    auto& s = self(ud);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) return 0;
    H2ClientSession::Stream st = it->second;
    s.streams_.erase(it);
    s.slots_changed_ = true;
    if (st.user) st.user->on_h2_reset(error_code == NGHTTP2_REFUSED_STREAM || !st.headers_sent);
    return 0;
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    auto& s = self(ud);
    if (frame->hd.type == NGHTTP2_HEADERS)
      if (auto* st = s.find(frame->hd.stream_id)) st->headers_sent = true;
    return 0;
  }

  // A request HEADERS that never left (GOAWAY arrived first, or it was cancelled while
  // queued): nghttp2 never opened the stream, so no stream-close callback follows.
  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int, void* ud) {
    auto& s = self(ud);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto it = s.streams_.find(frame->hd.stream_id);
    if (it == s.streams_.end()) return 0;
    H2StreamUser* u = it->second.user;
    s.streams_.erase(it);
    s.slots_changed_ = true;
    if (u) u->on_h2_reset(true);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source*, void* ud) {
    auto& s = self(ud);
    auto* st = s.find(id);
    if (!st || !st->user) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    bool eof = false;
    size_t n = st->user->h2_request_body(buf, length, eof);
    if (eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    }
    if (n == 0) {
      st = s.find(id);  // the user may have cancelled from inside the call
      if (st) st->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }

  static nghttp2_session_callbacks* make() {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
    return cb;
  }
};

namespace {
// Built once per thread (worker), used for every session it opens.
struct SessionTemplates {
  nghttp2_session_callbacks* callbacks = H2Callbacks::make();
  nghttp2_option* option = nullptr;
  SessionTemplates() {
    nghttp2_option_new(&option);
    // Windows are credited when the user has passed bytes on (consume()), not when they
    // arrive: a slow client stops its upstream stream instead of growing hop's buffers.
    nghttp2_option_set_no_auto_window_update(option, 1);
    nghttp2_option_set_peer_max_concurrent_streams(option, kAssumedPeerStreams);
  }
  ~SessionTemplates() {
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_option_del(option);
  }
};
SessionTemplates& templates() {
  static thread_local SessionTemplates t;
  return t;
}
}  // namespace

// ---- the session -----------------------------------------------------------------------

H2ClientSession::H2ClientSession(core::EventLoop& loop, H2SessionOwner& owner, const core::Address& address,
                                 std::shared_ptr<const tls::ClientContext> tls, const std::string& server_name,
                                 const H2SessionSettings& settings)
    : loop_(loop), owner_(owner), address_(address), tls_ctx_(std::move(tls)), server_name_(server_name),
      settings_(settings), timer_(loop, [this] { on_timer(); }), flush_(loop, [this] { progress(); }),
      keepalive_(loop, [this] { on_keepalive(); }) {}

H2ClientSession::~H2ClientSession() {
  if (session_) nghttp2_session_del(session_);
  tls_.reset();
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
}

bool H2ClientSession::start() {
  fd_ = core::connect_socket(address_);
  if (fd_ < 0) return false;
  if (!loop_.add(fd_, this)) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    errno = err;
    return false;
  }
  state_ = State::kConnecting;
  timer_.arm(settings_.connect_timeout);
  return true;
}

H2ClientSession::Stream* H2ClientSession::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

uint32_t H2ClientSession::stream_limit() const {
  uint32_t peer = session_ ? nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
                           : kAssumedPeerStreams;
  return std::min(peer, settings_.max_streams_cap ? settings_.max_streams_cap : 1u);
}

bool H2ClientSession::accepting() const {
  if (state_ != State::kReady || goaway_ || close_requested_ || ids_exhausted()) return false;
  return streams_.size() < stream_limit();
}

// Client stream ids are odd and end at 2^31-1 (RFC 9113 §5.1.1): a session that has used
// them up closes when idle and the pool opens another.
bool H2ClientSession::ids_exhausted() const {
  return session_ && nghttp2_session_get_next_stream_id(session_) > 0x7ffffff0u;
}

void H2ClientSession::on_io(uint32_t events) {
  switch (state_) {
    case State::kConnecting: {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = core::socket_error(fd_);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
        teardown(true, PoolFailure::kConnectFailed, err ? err : ECONNREFUSED);
        return;
      }
      on_connected();
      return;
    }
    case State::kHandshaking: handshake(); return;
    case State::kReady:
      if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP) || (write_wants_read_ && (events & EPOLLIN))) {
        writable_ = true;
        write_wants_read_ = false;
      }
      progress();
      return;
    case State::kClosed: return;
  }
}

void H2ClientSession::on_connected() {
  if (!tls_ctx_) {
    start_h2();
    return;
  }
  SSL* ssl = tls_ctx_->new_ssl(fd_, server_name_, address_.host());
  if (!ssl) {
    HOP_LOG_WARN("upstream {}: cannot create a TLS session", address_.to_string());
    teardown(true, PoolFailure::kConnectFailed, EPROTO);
    return;
  }
  tls_ = std::make_unique<tls::TlsStream>(ssl);
  state_ = State::kHandshaking;
  handshake();
}

void H2ClientSession::handshake() {
  tls::IoStatus st = tls_->handshake();
  if (st == tls::IoStatus::kWantRead || st == tls::IoStatus::kWantWrite) return;
  if (st != tls::IoStatus::kOk) {
    HOP_LOG_WARN("upstream {}: TLS handshake failed: {}", address_.to_string(), tls_->error());
    teardown(true, PoolFailure::kConnectFailed, EPROTO);
    return;
  }
  if (tls_->alpn() != "h2") {
    // The cluster says h2 but the host chose HTTP/1.1 (or nothing): speaking HTTP/2 anyway
    // would only produce a protocol error later; say why now.
    HOP_LOG_WARN("upstream {}: TLS peer did not select ALPN h2 (got '{}'); the cluster's protocol is h2",
                 address_.to_string(), tls_->alpn());
    teardown(true, PoolFailure::kHttp1Only, ENOPROTOOPT);
    return;
  }
  start_h2();
}

void H2ClientSession::start_h2() {
  auto& t = templates();
  if (nghttp2_session_client_new2(&session_, t.callbacks, this, t.option) != 0) {
    session_ = nullptr;
    teardown(true, PoolFailure::kConnectFailed, ENOMEM);
    return;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kOurMaxStreams},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  timer_.cancel();
  state_ = State::kReady;
  last_read_ = loop_.now();
  arm_keepalive();
  readable_ = writable_ = true;  // edge-triggered: whatever arrived with the handshake is not announced again
  in_progress_ = true;  // the owner's users submit into this pass
  owner_.on_session_ready(*this);
  in_progress_ = false;
  progress();
}

// ---- the stream API --------------------------------------------------------------------

int32_t H2ClientSession::submit(H2StreamUser& user, const http::HeaderPairs& headers, bool has_body) {
  // Beyond the stream limit nghttp2 holds the HEADERS until a stream closes; the pool does
  // not hand out more slots than the limit, so that only happens when the peer lowers it.
  if (state_ != State::kReady || goaway_ || close_requested_) return -1;
  nva_.clear();
  for (const auto& [name, value] : headers)
    nva_.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                    const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE});
  nghttp2_data_provider prd{};
  prd.read_callback = H2Callbacks::read_body;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva_.data(), nva_.size(), has_body ? &prd : nullptr, nullptr);
  if (id < 0) return -1;
  streams_[id].user = &user;
  ++streams_opened_;
  schedule();
  return id;
}

void H2ClientSession::resume_body(int32_t stream) {
  Stream* st = find(stream);
  if (!st || !st->user || !st->deferred || !session_) return;
  st->deferred = false;
  nghttp2_session_resume_data(session_, stream);
  schedule();
}

void H2ClientSession::consume(int32_t stream, size_t n) {
  Stream* st = find(stream);
  if (!st || !st->user || !session_) return;
  n = std::min(n, st->unconsumed);
  if (n == 0) return;
  st->unconsumed -= n;
  nghttp2_session_consume_stream(session_, stream, n);  // (the connection's was credited on receipt)
  schedule();
}

void H2ClientSession::cancel(int32_t stream) {
  Stream* st = find(stream);
  if (!st || !st->user || !session_) return;
  detach(stream, *st);
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL);
  schedule();
}

// The user is done with the stream (end, reset, cancel): nothing more reaches it, and what
// it held unconsumed is credited back to the stream (the connection's share already was).
void H2ClientSession::detach(int32_t id, Stream& st) {
  st.user = nullptr;
  if (st.unconsumed && session_) nghttp2_session_consume_stream(session_, id, st.unconsumed);
  st.unconsumed = 0;
}

http::HeaderPairs& H2ClientSession::header_pairs() {
  hdr_pairs_.clear();
  size_t off = 0;
  for (auto [nl, vl] : hdr_index_) {
    hdr_pairs_.push_back({std::string_view(hdr_bytes_.data() + off, nl), std::string_view(hdr_bytes_.data() + off + nl, vl)});
    off += nl + vl;
  }
  return hdr_pairs_;
}

// ---- I/O -------------------------------------------------------------------------------

void H2ClientSession::schedule() {
  if (state_ != State::kReady) return;
  if (in_progress_) again_ = true;
  else if (!flush_.armed()) flush_.arm(core::Millis(0));
}

void H2ClientSession::progress() {
  if (state_ != State::kReady) return;
  if (in_progress_) {
    again_ = true;
    return;
  }
  in_progress_ = true;
  bool ok = true;
  do {
    again_ = false;
    if (readable_) ok = read_socket();
    if (ok) ok = write_socket();
    if (ok && slots_changed_) {
      slots_changed_ = false;
      owner_.on_session_slots(*this);  // queued users may submit here: another pass sends it
    }
    if (close_requested_) ok = false;
  } while (ok && again_);
  in_progress_ = false;
  flush_.cancel();
  if (!ok) {
    teardown(false, PoolFailure::kConnectFailed, 0);
    return;
  }
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_) && out_sent_ == out_.size()) {
    teardown(false, PoolFailure::kConnectFailed, 0);
    return;
  }
  if (streams_.empty()) {
    if (goaway_ || close_when_idle_ || ids_exhausted()) {
      if (out_sent_ == out_.size()) teardown(false, PoolFailure::kConnectFailed, 0);
      return;
    }
    if (!timer_.armed()) timer_.arm(settings_.idle_timeout);
  } else {
    timer_.cancel();
  }
}

bool H2ClientSession::read_socket() {
  uint8_t buf[16 * 1024];
  for (;;) {
    size_t n;
    if (tls_) {
      tls::IoResult r = tls_->read(reinterpret_cast<char*>(buf), sizeof buf);
      if (r.status == tls::IoStatus::kWantRead) {
        readable_ = false;
        return true;
      }
      if (r.status == tls::IoStatus::kWantWrite) return true;  // retried on the next event
      if (r.status != tls::IoStatus::kOk) {
        if (r.status == tls::IoStatus::kError)
          HOP_LOG_WARN("upstream {}: TLS read failed: {}", address_.to_string(), tls_->error());
        return false;
      }
      n = r.bytes;
    } else {
      ssize_t got = core::sys_recv(fd_, buf, sizeof buf, 0);
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          readable_ = false;
          return true;
        }
        return false;
      }
      if (got == 0) return false;  // the peer closed
      n = static_cast<size_t>(got);
    }
    last_read_ = loop_.now();
    ssize_t rv = nghttp2_session_mem_recv(session_, buf, n);
    if (rv < 0) {
      HOP_LOG_DEBUG("upstream {}: HTTP/2 error: {}", address_.to_string(), nghttp2_strerror(static_cast<int>(rv)));
      write_socket();  // best effort: the GOAWAY nghttp2 queued
      return false;
    }
    if (close_requested_) return false;
    if (!tls_ && n < sizeof buf) {
      // A short read drained the socket; edge-triggered epoll announces the next bytes.
      readable_ = false;
      return true;
    }
  }
}

ssize_t H2ClientSession::write_raw(const char* data, size_t len) {
  if (tls_) {
    tls::IoResult r = tls_->write(data, len);
    if (r.status == tls::IoStatus::kOk) return static_cast<ssize_t>(r.bytes);
    if (r.status == tls::IoStatus::kWantWrite || r.status == tls::IoStatus::kWantRead) {
      write_wants_read_ = r.status == tls::IoStatus::kWantRead;
      errno = EAGAIN;
      return -1;
    }
    errno = EPIPE;
    return -1;
  }
  return core::sys_send(fd_, data, len, MSG_NOSIGNAL);
}

bool H2ClientSession::write_socket() {
  for (;;) {
    if (out_sent_ == out_.size()) {
      out_.clear();
      out_sent_ = 0;
    }
    if (!writable_) return true;  // produce nothing while the socket is full
    while (out_.size() - out_sent_ < kOutBatch) {
      const uint8_t* data;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) return false;
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (out_sent_ == out_.size()) return true;
    ssize_t w = write_raw(out_.data() + out_sent_, out_.size() - out_sent_);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        writable_ = false;
        return true;
      }
      return false;
    }
    out_sent_ += static_cast<size_t>(w);
  }
}

void H2ClientSession::on_timer() {
  if (state_ == State::kConnecting || state_ == State::kHandshaking) {
    teardown(true, PoolFailure::kConnectTimeout, ETIMEDOUT);
  } else if (state_ == State::kReady && streams_.empty()) {
    close();  // idle
  }
}

void H2ClientSession::update(const H2SessionSettings& settings) {
  bool keepalive_changed = settings.ping_interval != settings_.ping_interval;
  settings_ = settings;
  if (keepalive_changed && state_ == State::kReady && !ping_outstanding_) arm_keepalive();
}

void H2ClientSession::arm_keepalive() {
  if (settings_.ping_interval.count() <= 0) {
    keepalive_.cancel();
    return;
  }
  keepalive_.arm_at(last_read_ + settings_.ping_interval);
}

void H2ClientSession::on_keepalive() {
  if (state_ != State::kReady || !session_) return;
  core::TimePoint now = loop_.now();
  if (ping_outstanding_) {
    if (last_read_ >= ping_sent_) {  // the ACK, or any other frame: the host is there
      ping_outstanding_ = false;
      arm_keepalive();
      return;
    }
    HOP_LOG_WARN("upstream {}: no answer to an HTTP/2 PING within {} ms: closing the connection",
                 address_.to_string(), settings_.ping_timeout.count());
    teardown(false, PoolFailure::kKeepaliveTimeout, ETIMEDOUT);
    return;
  }
  if (settings_.ping_interval.count() <= 0) return;
  if (now < last_read_ + settings_.ping_interval) {  // heard from the host since this was armed
    arm_keepalive();
    return;
  }
  if (nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr) != 0) {  // out of memory: try later
    keepalive_.arm(settings_.ping_interval);
    return;
  }
  ping_outstanding_ = true;
  ping_sent_ = now;
  keepalive_.arm(settings_.ping_timeout);
  schedule();
}

void H2ClientSession::close_when_idle(bool on) {
  close_when_idle_ = on;
  if (on && state_ == State::kReady && streams_.empty()) close();
}

void H2ClientSession::close() {
  if (state_ == State::kClosed) return;
  if (in_progress_) {
    close_requested_ = true;  // inside a pass: it ends the pass and closes
    return;
  }
  if (tls_ && state_ == State::kReady) tls_->shutdown();
  teardown(state_ != State::kReady, PoolFailure::kDraining, 0);
}

void H2ClientSession::teardown(bool connecting, PoolFailure why, int error) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  timer_.cancel();
  flush_.cancel();
  keepalive_.cancel();
  // Users learn last, once the session is closed and the owner no longer offers it: a
  // user that retries from its callback cannot land here again.
  struct Told {
    int32_t id;
    H2StreamUser* user;
    bool refused;
  };
  std::vector<Told> users;
  for (auto& [id, st] : streams_)
    if (st.user) users.push_back({id, st.user, !st.headers_sent});
  streams_.clear();
  if (session_) {
    nghttp2_session_del(session_);
    session_ = nullptr;
  }
  tls_.reset();
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  owner_.on_session_closed(*this, connecting, why, error);
  // In submission order, so retries go out in the order the requests came.
  std::sort(users.begin(), users.end(), [](const Told& a, const Told& b) { return a.id < b.id; });
  for (const Told& t : users) t.user->on_h2_reset(t.refused);
}

}  // namespace hop::upstream
