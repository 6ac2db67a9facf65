#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "trace/http_exchange.h"
#include "trace/http_tokens.h"

namespace hop::trace {

namespace {

// A server could send an endless header list (nghttp2 1.52 does not bound it for us).
constexpr size_t kMaxResponseHeaderBytes = 64 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
// A bigger window than the 64 KiB default so that throughput measures the path, not
// flow control (RFC 9113 §6.9.2).
constexpr int32_t kWindow = 16 * 1024 * 1024;

// RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2.
bool is_connection_specific(const std::string& lname) {
  return lname == "connection" || lname == "keep-alive" || lname == "proxy-connection" ||
         lname == "transfer-encoding" || lname == "upgrade" || lname == "host";
}

class H2Exchange : public HttpExchange {
 public:
  ~H2Exchange() override {
    if (session_) nghttp2_session_del(session_);
  }
  const char* protocol() const override { return "HTTP/2"; }

  bool run(Connection& conn, const HttpRequest& request, core::TimePoint deadline,
           RequestTrace& t) override {
    std::string error;
    if (!session_ && !start_session(error)) {
      t.failed_phase = Phase::kSend;
      t.error = error;
      return false;
    }
    stream_ = StreamState{};
    stream_.trace = &t;
    stream_.sink = &request.body_sink;
    body_ = request.body;
    body_offset_ = 0;

    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back(":method", request.method);
    fields.emplace_back(":scheme", request.url.tls ? "https" : "http");
    std::string authority = request.url.authority();
    for (const auto& [n, v] : request.headers)
      if (ascii_lowercase(n) == "host" && !v.empty()) authority = v;
    fields.emplace_back(":authority", authority);
    fields.emplace_back(":path", request.url.target);
    auto add_default = [&](const std::string& name, const std::string& value) {
      for (const auto& h : request.headers)
        if (ascii_lowercase(h.first) == name) return;
      if (!value.empty()) fields.emplace_back(name, value);
    };
    add_default("user-agent", "hop-trace/0.1");
    add_default("accept", "*/*");
    add_default("traceparent", request.traceparent);
    if (!request.body.empty()) add_default("content-length", std::to_string(request.body.size()));
    for (const auto& [n, v] : request.headers) {
      std::string ln = ascii_lowercase(n);
      if (v.empty() || is_connection_specific(ln)) continue;
      fields.emplace_back(ln, v);
    }
    std::vector<nghttp2_nv> nva;
    nva.reserve(fields.size());
    for (auto& [n, v] : fields) {
      nva.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(n.data()),
                               reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(),
                               NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider provider{};
    provider.read_callback = &H2Exchange::read_body;
    int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                        request.body.empty() ? nullptr : &provider, this);
    if (id < 0) {
      t.failed_phase = Phase::kSend;
      t.error = std::string("cannot submit the request: ") + nghttp2_strerror(id);
      return false;
    }
    stream_.id = id;

    auto start = core::Clock::now();
    bool sent = false;
    core::TimePoint sent_at{};
    std::string buf(kReadChunk, '\0');
    while (!stream_.closed) {
      if (!flush(conn, deadline, error)) {
        t.failed_phase = sent ? Phase::kTtfb : Phase::kSend;
        t.error = error;
        return false;
      }
      if (!sent) {
        sent = true;
        sent_at = core::Clock::now();
        t.send_ms = core::ms_between(start, sent_at);
        stream_.sent_at = sent_at;
      }
      if (stream_.closed) break;
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        fail_in_flight(t, session_end_reason());
        return false;
      }
      long n = conn.read_some(buf.data(), buf.size(), deadline, error);
      if (n <= 0) {
        fail_in_flight(t, n == 0 ? "connection closed mid-response" : error);
        return false;
      }
      read_at_ = core::Clock::now();
      ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf.data()),
                                            static_cast<size_t>(n));
      if (rc < 0) {
        fail_in_flight(t, std::string("HTTP/2 protocol error: ") + nghttp2_strerror(static_cast<int>(rc)));
        return false;
      }
      if (stream_.header_overflow) {
        fail_in_flight(t, "response headers larger than 64 KiB");
        return false;
      }
    }
    auto end = core::Clock::now();
    if (stream_.got_first) t.transfer_ms = core::ms_between(stream_.first_at, end);
    // Send whatever the session still owes (WINDOW_UPDATE, SETTINGS ack) before reuse.
    flush(conn, deadline, error);
    if (stream_.reset_code != 0 && t.ok()) {
      fail_in_flight(t, std::string("stream reset by the server: ") +
                            nghttp2_http2_strerror(stream_.reset_code));
    }
    if (!stream_.server_timing.empty()) parse_server_timing(stream_.server_timing, t.server_timing);
    return t.ok() || t.failed_phase == Phase::kHttp
               ? (nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_))
               : false;
  }

 private:
  struct StreamState {
    int32_t id = -1;
    RequestTrace* trace = nullptr;
    const std::function<void(std::string_view)>* sink = nullptr;
    bool closed = false;
    bool got_first = false;
    bool header_overflow = false;
    uint32_t reset_code = 0;
    size_t header_bytes = 0;
    core::TimePoint sent_at{}, first_at{};
    std::string server_timing;
  };

  std::string session_end_reason() const {
    if (goaway_received_)
      return std::string("the server ended the HTTP/2 session: GOAWAY ") +
             nghttp2_http2_strerror(goaway_code_);
    // We ended it: what arrived was not HTTP/2 (RFC 9113 §3.4 wants SETTINGS first).
    return "the server's reply was not HTTP/2 (does it speak h2c with prior knowledge?)";
  }

  void fail_in_flight(RequestTrace& t, std::string error) {
    if (!t.ok()) return;
    t.failed_phase = stream_.got_first ? Phase::kTransfer : Phase::kTtfb;
    t.error = std::move(error);
  }

  bool start_session(std::string& error) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2Exchange::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Exchange::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2Exchange::on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2Exchange::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Exchange::on_frame_recv);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    // RFC 9113 §6.5.2 lets the server advertise a larger limit; 8 CONTINUATIONs already
    // carry far more than any real response head (CONTINUATION flood, 2024).
    nghttp2_option_set_max_continuations(opt, 8);
    int rc = nghttp2_session_client_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
      error = std::string("nghttp2 session: ") + nghttp2_strerror(rc);
      return false;
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kWindow)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(kMaxResponseHeaderBytes)},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kWindow);
    return true;
  }

  bool flush(Connection& conn, core::TimePoint deadline, std::string& error) {
    while (nghttp2_session_want_write(session_)) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        error = std::string("HTTP/2 send: ") + nghttp2_strerror(static_cast<int>(n));
        return false;
      }
      if (n == 0) break;
      if (!conn.write_all(std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(n)),
                          deadline, error))
        return false;
    }
    return true;
  }

  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* user) {
    auto* self = static_cast<H2Exchange*>(user);
    size_t n = std::min(length, self->body_.size() - self->body_offset_);
    std::memcpy(buf, self->body_.data() + self->body_offset_, n);
    self->body_offset_ += n;
    if (self->body_offset_ == self->body_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = static_cast<H2Exchange*>(user);
    auto& s = self->stream_;
    if (frame->hd.stream_id == s.id && !s.got_first) {
      s.got_first = true;
      s.first_at = self->read_at_;
      s.trace->ttfb_ms = core::ms_between(s.sent_at, self->read_at_);
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                       void* user) {
    auto* self = static_cast<H2Exchange*>(user);
    auto& s = self->stream_;
    if (frame->hd.stream_id != s.id) return 0;
    s.header_bytes += namelen + valuelen + 32;  // RFC 9113 §6.5.2 size accounting
    if (s.header_bytes > kMaxResponseHeaderBytes) {
      s.header_overflow = true;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets just this stream
    }
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      int code = 0;
      for (char c : v) code = (c >= '0' && c <= '9' && code < 1000) ? code * 10 + (c - '0') : 1000;
      // Interim 1xx: the final status replaces it (RFC 9113 §8.1).
      s.trace->status = code;
    } else if (n == "server-timing") {
      if (s.server_timing.size() + v.size() <= kMaxResponseHeaderBytes) {
        if (!s.server_timing.empty()) s.server_timing += ", ";
        s.server_timing.append(v);
      }
    }
    s.trace->header_bytes += namelen + valuelen;
    return 0;
  }

  static int on_data(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                     size_t len, void* user) {
    auto* self = static_cast<H2Exchange*>(user);
    auto& s = self->stream_;
    if (stream_id != s.id) return 0;
    s.trace->bytes += len;
    if (s.sink && *s.sink) (*s.sink)(std::string_view(reinterpret_cast<const char*>(data), len));
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = static_cast<H2Exchange*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      self->goaway_received_ = true;
      self->goaway_code_ = frame->goaway.error_code;
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
    auto* self = static_cast<H2Exchange*>(user);
    if (stream_id == self->stream_.id) {
      self->stream_.closed = true;
      self->stream_.reset_code = error_code;
    }
    return 0;
  }

  nghttp2_session* session_ = nullptr;
  StreamState stream_;
  std::string body_;
  size_t body_offset_ = 0;
  core::TimePoint read_at_{};
  bool goaway_received_ = false;
  uint32_t goaway_code_ = 0;
};

}  // namespace

std::unique_ptr<HttpExchange> make_h2_exchange() { return std::make_unique<H2Exchange>(); }

}  // namespace hop::trace
