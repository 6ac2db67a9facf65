#include "h2/server_connection.h"

#include <sys/epoll.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include "core/log.h"

namespace hop::h2 {

namespace {
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
constexpr size_t kOutChunk = 64 * 1024;  // nghttp2 output gathered per write
constexpr int kMaxSpins = 64;
constexpr core::Millis kAbuseWindow{10000};
constexpr size_t kMaxSkippedRanges = 16;

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}
}  // namespace

struct ServerConnection::Stream final : http::StreamSink {
  Stream(ServerConnection& c, int32_t stream_id) : conn(c), id(stream_id) {}

  void on_response_head(int status, const http::HeaderPairs& headers, bool end_stream) override {
    char code[4];
    std::to_chars(code, code + 3, status);
    static thread_local std::vector<nghttp2_nv> nva;  // per-worker scratch; nghttp2 copies
    nva.clear();
    nva.push_back(make_nv(":status", std::string_view(code, 3)));
    for (const auto& h : headers) nva.push_back(make_nv(h.first, h.second));
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = &Stream::read_body;
    nghttp2_submit_response(conn.session_, id, nva.data(), nva.size(), end_stream ? nullptr : &provider);
    conn.schedule();
  }
  void on_response_data() override {
    if (deferred) {
      deferred = false;
      nghttp2_session_resume_data(conn.session_, id);
    }
    conn.schedule();
  }
  void on_stream_reset() override {
    nghttp2_submit_rst_stream(conn.session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    conn.schedule();
  }
  void on_request_body_consumed(size_t n) override {
    if (n > unconsumed) n = unconsumed;
    unconsumed -= n;
    nghttp2_session_consume(conn.session_, id, n);
    conn.schedule();
  }

  static ssize_t read_body(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                           uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto* s = static_cast<Stream*>(source->ptr);
    bool eof = false;
    size_t n = s->ex->read_body(buf, length, eof);
    if (eof) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      const auto& trailers = s->ex->trailers();
      if (!trailers.empty()) {
        std::vector<nghttp2_nv> nva;
        nva.reserve(trailers.size());
        for (const auto& t : trailers) nva.push_back(make_nv(t.first, t.second));
        if (nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size()) == 0)
          *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
      return static_cast<ssize_t>(n);
    }
    if (n == 0) {
      s->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }

  ServerConnection& conn;
  int32_t id;
  std::unique_ptr<http::StreamHandler> ex;
  size_t header_bytes = 0;
  bool oversized = false;
  bool started = false;
  core::TimePoint begun{};  // HEADERS began (the header block must finish in time)
  bool deferred = false;
  size_t unconsumed = 0;  // body bytes received and not yet credited back to the client
};

struct Callbacks {
  static ServerConnection& conn(void* user_data) { return *static_cast<ServerConnection*>(user_data); }

  // RFC 9113 §5.1.1: a client's new stream ids only grow; ids it skipped are closed, and
  // HEADERS on one is a connection error. nghttp2 ignores such HEADERS (it cannot tell them
  // from late trailers); hop remembers the skipped ranges (a bounded few) and can.
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
    if (hd->type != NGHTTP2_HEADERS || hd->stream_id % 2 == 0) return 0;
    auto& c = conn(user_data);
    int32_t id = hd->stream_id;
    if (id > c.last_stream_) {
      if (id > c.last_stream_ + 2 && c.skipped_.size() < kMaxSkippedRanges)
        c.skipped_.push_back({c.last_stream_ + 2, id - 2});
      c.last_stream_ = id;
      return 0;
    }
    for (const auto& [lo, hi] : c.skipped_)
      if (id >= lo && id <= hi) {
        HOP_LOG_DEBUG("h2 {}: HEADERS on stream {}, which the client skipped", c.peer_ip_, id);
        return NGHTTP2_ERR_CALLBACK_FAILURE;  // → GOAWAY(PROTOCOL_ERROR) and close
      }
    return 0;
  }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    auto& c = conn(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (c.streams_.size() >= c.settings_.h2.max_concurrent_streams || c.draining_) {
      // Before the client has our SETTINGS it may open more than we allow: refuse, it retries.
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    auto s = std::make_unique<ServerConnection::Stream>(c, frame->hd.stream_id);
    s->ex = c.owner_.open_stream(*s);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s.get());
    c.streams_.emplace(frame->hd.stream_id, std::move(s));
    // The header block must be complete within the header timeout (a client that opens a
    // stream and trickles CONTINUATION frames is the HTTP/2 slowloris).
    c.streams_.at(frame->hd.stream_id)->begun = c.loop_.now();
    c.timer_.arm(c.settings_.header_timeout);
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
    auto& c = conn(user_data);
    auto* s = c.stream(frame->hd.stream_id);
    if (!s || s->started) return 0;  // trailers of a request: not forwarded
    // RFC 9113 §6.5.2 counts 32 bytes of overhead per field, as HPACK does.
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > c.settings_.h2.max_header_list_size) s->oversized = true;
    if (s->oversized) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (!n.empty() && n[0] == ':') {
      if (n == ":method") s->ex->set_method(v);
      else if (n == ":path") s->ex->set_path(v);
      else if (n == ":authority") s->ex->set_authority(v);
      return 0;  // :scheme is where the client thinks it is; hop knows how it was reached
    }
    if (n == "content-length") {
      uint64_t len = 0;
      auto r = std::from_chars(v.data(), v.data() + v.size(), len);
      if (r.ec == std::errc() && r.ptr == v.data() + v.size()) s->ex->set_content_length(len);
      return 0;  // nghttp2 checks it against the DATA received; the upstream side re-frames
    }
    s->ex->add_header(n, v);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& c = conn(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        auto* s = c.stream(frame->hd.stream_id);
        if (!s) break;
        bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
        if (!s->started) {
          s->started = true;
          s->ex->set_head_bytes(s->header_bytes);
          if (s->oversized) s->ex->reject(431, "request header fields too large\n");
          else s->ex->start(end);
        } else if (end) {
          s->ex->end_body();
        }
        break;
      }
      case NGHTTP2_DATA: {
        auto* s = c.stream(frame->hd.stream_id);
        bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
        // Padding carries nothing either: a frame of only padding is as empty as none.
        if (frame->hd.length - frame->data.padlen == 0 && !end) c.count_abuse("empty DATA");
        if (s && end) s->ex->end_body();
        break;
      }
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) c.count_abuse("SETTINGS");
        break;
      case NGHTTP2_PING:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) c.count_abuse("PING");
        break;
      case NGHTTP2_PRIORITY:
        c.count_abuse("PRIORITY");
        break;
      case NGHTTP2_RST_STREAM:
        c.count_abuse("RST_STREAM");
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user_data) {
    auto& c = conn(user_data);
    auto* s = c.stream(stream_id);
    if (!s || !s->started) {
      nghttp2_session_consume(session, stream_id, len);
      return 0;
    }
    s->unconsumed += len;
    s->ex->push_body(data, len);
    return 0;
  }

  // RFC 9113 §8.1: a server that has sent its complete response while the request is
  // still open asks the client to stop with RST_STREAM(NO_ERROR). Without it the stream
  // stays half-open for good (nghttp2 does not close it): it holds a stream slot, the
  // unread body's share of the connection window, and keeps the idle timer off.
  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    // A reset hop (or nghttp2 for it) sends because the client broke the protocol on a
    // stream -- DATA past END_STREAM or past content-length, a bad window -- costs the
    // same work as one the client sends itself, and may have cost an upstream request
    // ("MadeYouReset", CVE-2025-8671): it counts against the same budget.
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
      uint32_t code = frame->rst_stream.error_code;
      auto& c = conn(user_data);
      // (Skipped when on_invalid_frame already counted the frame that caused this reset.)
      if ((code == NGHTTP2_PROTOCOL_ERROR || code == NGHTTP2_STREAM_CLOSED || code == NGHTTP2_FLOW_CONTROL_ERROR ||
           code == NGHTTP2_FRAME_SIZE_ERROR) &&
          frame->hd.stream_id != c.last_invalid_stream_)
        c.count_abuse("provoked RST_STREAM");
      return 0;
    }
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && frame->hd.stream_id % 2 == 1 &&
        nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t, void* user_data) {
    auto& c = conn(user_data);
    auto* s = c.stream(stream_id);
    if (!s) return 0;
    // Body bytes the client sent that nobody will read still count against the
    // connection window: give them back.
    if (s->unconsumed) nghttp2_session_consume_connection(session, s->unconsumed);
    s->unconsumed = 0;
    c.destroy_stream(stream_id);
    return 0;
  }

  // One read-only callback table for every connection of the process (nghttp2 copies
  // nothing from it per session), built once instead of per accepted connection.
  static const nghttp2_session_callbacks* table() {
    static nghttp2_session_callbacks* cbs = [] {
      nghttp2_session_callbacks* c;
      nghttp2_session_callbacks_new(&c);
      nghttp2_session_callbacks_set_on_begin_frame_callback(c, on_begin_frame);
      nghttp2_session_callbacks_set_on_begin_headers_callback(c, on_begin_headers);
      nghttp2_session_callbacks_set_on_header_callback(c, on_header);
      nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
      nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
      nghttp2_session_callbacks_set_on_frame_send_callback(c, on_frame_send);
      nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(c, on_invalid_frame);
      return c;
    }();
    return cbs;
  }

  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int, void* user_data) {
    auto& c = conn(user_data);
    c.last_invalid_stream_ = frame->hd.stream_id;
    c.count_abuse("invalid frame");
    return 0;
  }
};

ServerConnection::ServerConnection(core::EventLoop& loop, transport::ClientSocket sock, std::string peer_ip,
                                   ServerSettings settings, ServerOwner& owner, std::string_view preread)
    : loop_(loop), sock_(std::move(sock)), peer_ip_(std::move(peer_ip)), settings_(std::move(settings)),
      owner_(owner), preread_(preread), timer_(loop, [this] { on_timer(); }), resume_(loop, [this] { progress(); }),
      write_stall_(loop, [this] { on_write_stall(); }) {
  const auto& h2 = settings_.h2;

  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  // Windows are credited as the upstream takes the body, so a fast client cannot make hop
  // buffer more than the window for a slow upstream.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_continuations(opt, h2.max_continuations);
  nghttp2_option_set_stream_reset_rate_limit(opt, h2.max_reset_burst, h2.max_reset_rate);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  nghttp2_session_server_new2(&session_, Callbacks::table(), this, opt);
  nghttp2_option_del(opt);

  nghttp2_settings_entry entries[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, h2.max_header_list_size},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries, sizeof entries / sizeof entries[0]);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(h2.connection_window));

  if (settings_.stats) settings_.stats->active_connections.add(1);
  // The connection preface and first request must come within the header timeout.
  timer_.arm(settings_.header_timeout);
  sock_.watch(loop_, this);
  resume_.arm(core::Millis(0));  // start outside the constructor: the owner is not done yet
}

ServerConnection::~ServerConnection() {
  streams_.clear();  // handlers first: they may still name their stream
  if (session_) nghttp2_session_del(session_);
}

ServerConnection::Stream* ServerConnection::stream(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void ServerConnection::destroy_stream(int32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  it->second->ex->cancel();  // logs 499 unless the exchange finished
  streams_.erase(it);
  if (streams_.empty() && !closed_) timer_.arm(settings_.idle_timeout);
}

void ServerConnection::on_io(uint32_t events) {
  if (closed_) return;
  if (events & kReadEvents) readable_ = true;
  if (events & EPOLLOUT) writable_ = true;
  if (events & EPOLLERR) {
    close();
    return;
  }
  progress();
}

void ServerConnection::schedule() {
  if (!closed_ && !in_progress_ && !resume_.armed()) resume_.arm(core::Millis(0));
}

void ServerConnection::progress() {
  if (closed_ || in_progress_) return;
  in_progress_ = true;
  int spins = 0;
  for (; spins < kMaxSpins && !closed_; ++spins) {
    bool moved = read_socket();
    if (closed_) break;
    moved |= write_socket();
    if (closed_) break;
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_) && out_.empty()) {
      close();
      break;
    }
    if (!moved) break;
  }
  if (spins == kMaxSpins && !closed_) resume_.arm(core::Millis(0));
  in_progress_ = false;
  if (closed_ && !owner_told_) {
    owner_told_ = true;
    owner_.connection_closed();
  }
}

bool ServerConnection::read_socket() {
  if (!preread_.empty()) {
    std::string bytes;
    bytes.swap(preread_);
    ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
      HOP_LOG_DEBUG("h2 {}: {}", peer_ip_, nghttp2_strerror(static_cast<int>(rv)));
      close();
    }
    return true;
  }
  if (!readable_ && !sock_.pending()) return false;
  // A client that does not read what we send gets no more of its frames read.
  if (out_.size() - out_sent_ >= kOutChunk) return false;
  char buf[16 * 1024];
  ssize_t n = sock_.read(buf, sizeof buf);
  if (n > 0) {
    if (static_cast<size_t>(n) < sizeof buf && !sock_.pending()) readable_ = false;
    ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n));
    if (rv < 0) {
      // Bad preface, flood, too many CONTINUATIONs: nghttp2 may have queued a GOAWAY;
      // send what we can, then close.
      HOP_LOG_DEBUG("h2 {}: {}", peer_ip_, nghttp2_strerror(static_cast<int>(rv)));
      if (settings_.stats) settings_.stats->protocol_errors.inc();
      if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC) nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
      write_socket();
      close();
    }
    return true;
  }
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
    close();  // the client is gone: its streams end (499)
    return true;
  }
  readable_ = false;
  return false;
}

bool ServerConnection::write_socket() {
  bool moved = false;
  for (;;) {
    if (out_sent_ < out_.size()) {
      if (!writable_) return moved;
      iovec iov{out_.data() + out_sent_, out_.size() - out_sent_};
      ssize_t n = sock_.writev(&iov, 1);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          writable_ = false;
          if (!write_stall_.armed()) write_stall_.arm(settings_.idle_timeout);
          return moved;
        }
        close();
        return true;
      }
      moved = true;
      out_sent_ += static_cast<size_t>(n);
      write_stall_.arm(settings_.idle_timeout);  // progress: the deadline moves on
      if (out_sent_ < out_.size()) {
        writable_ = false;
        return moved;
      }
      out_.clear();
      out_sent_ = 0;
    }
    while (out_.size() < kOutChunk) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        close();
        return true;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (out_.empty()) {
      write_stall_.cancel();
      // An idle connection keeps no output buffer: 10,000 of them would otherwise hold
      // whatever their largest burst needed.
      if (out_.capacity() > 4096) std::string().swap(out_);
      return moved;
    }
  }
}

void ServerConnection::count_abuse(const char* what) {
  auto now = loop_.now();
  if (now - abuse_window_ > kAbuseWindow) {
    abuse_window_ = now;
    abuse_ = 0;
  }
  if (++abuse_ == settings_.h2.max_abusive_frames) {
    HOP_LOG_DEBUG("h2 {}: too many {} frames, closing", peer_ip_, what);
    if (settings_.stats) settings_.stats->protocol_errors.inc();
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
    schedule();
  }
}

void ServerConnection::drain() {
  if (draining_ || closed_) return;
  draining_ = true;
  // Streams up to the last one processed finish; the client retries later ones elsewhere.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  if (streams_.empty()) nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  schedule();
}

void ServerConnection::on_timer() {
  if (closed_) return;
  if (!streams_.empty()) {
    // Streams whose header block has not finished within the header timeout end the
    // connection; streams in progress have their own timeouts (their exchanges').
    auto now = loop_.now();
    core::TimePoint oldest = now;
    for (const auto& [id, st] : streams_)
      if (!st->started && st->begun < oldest) oldest = st->begun;
    if (oldest == now) return;
    if (now - oldest >= settings_.header_timeout) {
      HOP_LOG_DEBUG("h2 {}: header block not completed in time", peer_ip_);
      if (settings_.stats) settings_.stats->protocol_errors.inc();
      nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
      progress();
      if (!closed_) {
        close();
        progress();
      }
      return;
    }
    timer_.arm_at(oldest + settings_.header_timeout);
    return;
  }
  // Idle (or never sent a request): say goodbye politely, then close.
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  progress();
  if (!closed_) {
    // The client does not read our GOAWAY: close anyway.
    close();
    progress();
  }
}

// A client that stops reading stops us writing: its streams' resets cannot reach it
// either, so nothing else would ever end the connection (the kernel keeps a zero-window
// peer forever). No byte taken for a whole idle timeout: close.
void ServerConnection::on_write_stall() {
  if (closed_ || out_sent_ >= out_.size()) return;
  HOP_LOG_DEBUG("h2 {}: client took no bytes for {} ms, closing", peer_ip_, settings_.idle_timeout.count());
  close();
}

void ServerConnection::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  resume_.cancel();
  write_stall_.cancel();
  for (auto& [id, s] : streams_) s->ex->cancel();
  streams_.clear();
  sock_.close();
  if (settings_.stats) settings_.stats->active_connections.add(-1);
  if (!in_progress_ && !owner_told_) {
    owner_told_ = true;
    owner_.connection_closed();
  }
}

}  // namespace hop::h2
