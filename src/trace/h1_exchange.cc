#include <algorithm>

#include "trace/h1_response_reader.h"
#include "trace/http_tokens.h"
#include "trace/http_exchange.h"

namespace hop::trace {

namespace {

bool user_sets(const HttpRequest& r, std::string_view name) {
  return std::any_of(r.headers.begin(), r.headers.end(),
                     [&](const auto& h) { return iequals(h.first, name); });
}

// The response body is counted and dropped; this is the read size per call.
constexpr size_t kReadChunk = 64 * 1024;

class H1Exchange : public HttpExchange {
 public:
  const char* protocol() const override { return "HTTP/1.1"; }

  bool run(Connection& conn, const HttpRequest& request, core::TimePoint deadline,
           RequestTrace& t) override {
    std::string wire = build_h1_request(request);
    auto start = core::Clock::now();
    std::string error;
    if (!conn.write_all(wire, deadline, error)) {
      t.failed_phase = Phase::kSend;
      t.error = error;
      return false;
    }
    auto sent = core::Clock::now();
    t.send_ms = core::ms_between(start, sent);

    H1ResponseReader reader(request.method == "HEAD");
    if (request.body_sink) reader.set_body_sink(request.body_sink);
    std::string buf(kReadChunk, '\0');
    core::TimePoint first{};
    bool got_first = false;
    while (!reader.done()) {
      long n = conn.read_some(buf.data(), buf.size(), deadline, error);
      auto now = core::Clock::now();
      if (n < 0) {
        t.failed_phase = got_first ? Phase::kTransfer : Phase::kTtfb;
        t.error = error;
        break;
      }
      if (n > 0 && !got_first) {
        got_first = true;
        first = now;
        t.ttfb_ms = core::ms_between(sent, now);
      }
      if (n == 0) {
        reader.on_eof();
        if (!got_first) {
          t.failed_phase = Phase::kTtfb;
          t.error = "connection closed before any response";
          break;
        }
      } else {
        size_t used = reader.feed(std::string_view(buf.data(), static_cast<size_t>(n)));
        // Bytes after the response: the server answered more than was asked, and the
        // connection can no longer be trusted to line up requests with responses.
        if (reader.done() && used < static_cast<size_t>(n)) reader_left_bytes_ = true;
      }
      if (reader.failed()) {
        t.failed_phase = reader.headers_complete() ? Phase::kTransfer : Phase::kTtfb;
        t.error = reader.error();
        break;
      }
    }
    auto end = core::Clock::now();
    if (got_first) t.transfer_ms = core::ms_between(first, end);
    t.status = reader.status();
    t.reason = reader.reason();
    t.bytes = reader.body_bytes();
    if (reader.headers_complete()) {
      std::string st = reader.header("server-timing");
      if (!st.empty()) parse_server_timing(st, t.server_timing);
    }
    bool reusable = reader.done() && reader.keep_alive() && !reader_left_bytes_;
    reader_left_bytes_ = false;
    return reusable;
  }

 private:
  bool reader_left_bytes_ = false;
};

}  // namespace

std::string build_h1_request(const HttpRequest& r) {
  std::string out;
  out.reserve(256 + r.body.size());
  out += r.method;
  out += ' ';
  out += r.url.target;
  out += " HTTP/1.1\r\n";
  auto add_default = [&](std::string_view name, const std::string& value) {
    if (user_sets(r, name) || value.empty()) return;
    out.append(name).append(": ").append(value).append("\r\n");
  };
  add_default("Host", r.url.authority());
  add_default("User-Agent", "hop-trace/0.1");
  add_default("Accept", "*/*");
  add_default("traceparent", r.traceparent);
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT")
    add_default("Content-Length", std::to_string(r.body.size()));
  for (const auto& [name, value] : r.headers) {
    if (value.empty()) continue;  // "-H 'Name:'" removes the default
    out.append(name).append(": ").append(value).append("\r\n");
  }
  out += "\r\n";
  out += r.body;
  return out;
}

bool validate_request_headers(const HttpRequest& r, std::string& error) {
  for (const auto& [name, value] : r.headers) {
    if (!is_token(name)) {
      error = "invalid header name '" + name + "'";
      return false;
    }
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        error = "header '" + name + "' contains CR, LF or NUL";
        return false;
      }
    }
  }
  if (!is_token(r.method)) {
    error = "invalid method '" + r.method + "'";
    return false;
  }
  return true;
}

std::unique_ptr<HttpExchange> make_h1_exchange() { return std::make_unique<H1Exchange>(); }

}  // namespace hop::trace
