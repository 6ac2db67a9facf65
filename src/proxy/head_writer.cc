#include "proxy/head_writer.h"

#include "http/status.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace hop::proxy {

using http::iequals;

bool is_hop_by_hop(std::string_view name, const http::HeaderList& headers, bool options) {
  switch (name.size()) {
    case 2: if (iequals(name, "te")) return true; break;
    case 7: if (iequals(name, "upgrade") || iequals(name, "trailer")) return true; break;
    case 10: if (iequals(name, "connection") || iequals(name, "keep-alive")) return true; break;
    case 16: if (iequals(name, "proxy-connection")) return true; break;
    case 17: if (iequals(name, "transfer-encoding")) return true; break;
    default: break;
  }
  if (!options) return false;
  for (const auto& h : headers)
    if (h.name.size() == 10 && iequals(h.name, "connection") && http::list_contains(h.value, name)) return true;
  return false;
}

namespace {
// Writes a head through a pointer into the worker thread's scratch buffer, sized once for
// the whole head, then appends it to `out` in one piece: std::string::append re-checks
// capacity and re-terminates on every call, four times per field, and the two heads of
// every proxied request are most of what hop writes. The scratch is per thread, not per
// connection, so an estimate larger than the head costs no memory per idle connection
// (`out` grows by what was written only). A short estimate regrows, checked on every
// write, never overruns. One HeadOut at a time per thread (the writers are leaf calls).
class HeadOut {
 public:
  HeadOut(std::string& out, size_t estimate) : out_(out) {
    std::string& s = scratch();
    if (s.size() < estimate) s.resize(estimate);  // the thread keeps it: no zero-fill per head
    p_ = s.data();
    end_ = s.data() + s.size();
  }
  ~HeadOut() { out_.append(scratch().data(), static_cast<size_t>(p_ - scratch().data())); }
  HeadOut(const HeadOut&) = delete;
  HeadOut& operator=(const HeadOut&) = delete;

  [[gnu::always_inline]] void put(std::string_view v) {
    if (static_cast<size_t>(end_ - p_) < v.size()) [[unlikely]] grow(v.size());
    std::memcpy(p_, v.data(), v.size());
    p_ += v.size();
  }
  [[gnu::always_inline]] void put(char c) { put(std::string_view(&c, 1)); }
  [[gnu::always_inline]] void field(std::string_view name, std::string_view value) {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  void number(uint64_t v) {
    char tmp[24];
    put(std::string_view(tmp, static_cast<size_t>(std::to_chars(tmp, tmp + sizeof tmp, v).ptr - tmp)));
  }
  // The values of every `name` field, comma-joined: repeated field lines are one list
  // (RFC 9110 §5.3), so no earlier hop is lost when hop appends its own.
  bool all_values(const http::HeaderList& headers, std::string_view name) {
    bool any = false;
    for (const auto& h : headers) {
      if (!iequals(h.name, name)) continue;
      if (any) put(", ");
      put(h.value);
      any = true;
    }
    return any;
  }

 private:
  [[gnu::noinline]] void grow(size_t need) {
    std::string& s = scratch();
    size_t used = static_cast<size_t>(p_ - s.data());
    s.resize(std::max(s.size() * 2, used + need));
    p_ = s.data() + used;
    end_ = s.data() + s.size();
  }
  static std::string& scratch() {
    thread_local std::string s;
    return s;
  }

  std::string& out_;
  char* p_;
  char* end_;
};

// Bytes the header fields take as "name: value\r\n", plus room for ", " joins.
size_t fields_size(const http::HeaderList& headers) {
  size_t n = 0;
  for (const auto& h : headers) n += h.name.size() + h.value.size() + 6;
  return n;
}
}  // namespace

void write_upstream_request_head(const http::RequestHead& req, const UpstreamRequestParams& p, std::string& out) {
  out.clear();
  HeadOut w(out, 256 + req.method.size() + p.target.size() + fields_size(req.headers) + p.client_ip.size() +
                     p.host_override.size() + p.host_fallback.size() + p.via.size() + p.traceparent.size() +
                     p.proto.size());
  w.put(req.method);
  w.put(' ');
  w.put(p.target);
  w.put(" HTTP/1.1\r\n");
  bool has_host = false, has_xff = false, has_via = false;
  for (const auto& h : req.headers) {
    if (is_hop_by_hop(h.name, req.headers, req.connection_options)) continue;
    switch (h.name.size()) {
      case 4:
        if (iequals(h.name, "host")) {
          if (!p.host_override.empty()) continue;
          has_host = true;
        }
        break;
      case 3:
        if (iequals(h.name, "via")) { has_via = true; continue; }
        break;
      case 6:
        // hop answers Expect: 100-continue itself once an upstream is ready.
        if (iequals(h.name, "expect")) continue;
        break;
      case 14:
        // Re-framed below; the parser has already validated it.
        if (iequals(h.name, "content-length")) continue;
        break;
      case 15:
        if (iequals(h.name, "x-forwarded-for")) { has_xff = true; continue; }
        break;
      case 17:
        if (iequals(h.name, "x-forwarded-proto")) continue;
        break;
      default:
        break;
    }
    w.field(h.name, h.value);
  }
  if (!p.host_override.empty()) w.field("Host", p.host_override);
  else if (!has_host && !p.host_fallback.empty()) w.field("Host", p.host_fallback);
  if (req.framing == http::BodyFraming::kContentLength) {
    w.put("Content-Length: ");
    w.number(req.content_length);
    w.put("\r\n");
  } else if (req.framing == http::BodyFraming::kChunked) {
    w.put("Transfer-Encoding: chunked\r\n");
  }
  w.put("X-Forwarded-For: ");
  if (has_xff && w.all_values(req.headers, "x-forwarded-for")) w.put(", ");
  w.put(p.client_ip);
  w.put("\r\nX-Forwarded-Proto: ");
  w.put(p.proto);
  w.put("\r\nVia: ");
  if (has_via && w.all_values(req.headers, "via")) w.put(", ");
  w.put(!p.via.empty() ? p.via : req.version_minor == 0 ? "1.0 hop" : "1.1 hop");
  w.put("\r\n");
  if (!p.traceparent.empty()) w.field("traceparent", p.traceparent);
  if (!p.upgrade.empty()) {
    w.put("Connection: upgrade\r\n");
    w.field("Upgrade", p.upgrade);
  }
  w.put("\r\n");
}

void write_downstream_response_head(const http::ResponseHead& resp, const DownstreamResponseParams& p,
                                    std::string& out) {
  std::string_view reason = resp.reason.empty() ? reason_phrase(resp.status) : resp.reason;
  HeadOut w(out, 256 + reason.size() + fields_size(resp.headers) + p.server_timing.size());
  w.put("HTTP/1.1 ");
  w.number(static_cast<uint64_t>(resp.status));
  w.put(' ');
  w.put(reason);
  w.put("\r\n");
  bool has_via = false;
  for (const auto& h : resp.headers) {
    if (is_hop_by_hop(h.name, resp.headers, resp.connection_options)) continue;
    if (h.name.size() == 14 && iequals(h.name, "content-length")) continue;
    if (h.name.size() == 3 && iequals(h.name, "via")) { has_via = true; continue; }
    w.field(h.name, h.value);
  }
  // 204 never has content (RFC 9110 §15.3.5); HEAD and 304 keep the upstream's
  // Content-Length: it describes the representation.
  if (resp.status >= 200 && resp.status != 204 && (resp.framing == http::BodyFraming::kContentLength ||
                             (resp.framing == http::BodyFraming::kNone && resp.headers.has("content-length")))) {
    w.put("Content-Length: ");
    if (resp.framing == http::BodyFraming::kContentLength) w.number(resp.content_length);
    else w.put(resp.headers.get("content-length"));
    w.put("\r\n");
  }
  if (p.chunked) w.put("Transfer-Encoding: chunked\r\n");
  w.put("Via: ");
  if (has_via && w.all_values(resp.headers, "via")) w.put(", ");
  w.put(resp.version_minor == 0 ? "1.0 hop\r\n" : "1.1 hop\r\n");
  if (!p.server_timing.empty()) w.field("Server-Timing", p.server_timing);
  if (!p.upgrade.empty()) {
    w.put("Connection: upgrade\r\n");
    w.field("Upgrade", p.upgrade);
  } else if (p.close) w.put("Connection: close\r\n");
  else if (p.client_http10) w.put("Connection: keep-alive\r\n");
  w.put("\r\n");
}

void write_local_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view hop_error, std::string_view location, bool close, bool head_only,
                          std::string& out) {
  bool no_content = status == 204 || status == 304 || status < 200;
  if (no_content) body = {};  // RFC 9110 §15.3.5, §15.4.5: these never carry content
  std::string_view reason = reason_phrase(status);
  {
    HeadOut w(out, 256 + reason.size() + content_type.size() + hop_error.size() + location.size());
    w.put("HTTP/1.1 ");
    w.number(static_cast<uint64_t>(status));
    w.put(' ');
    w.put(reason);
    w.put("\r\nServer: hop\r\n");
    if (!no_content) {
      if (!content_type.empty()) w.field("Content-Type", content_type);
      w.put("Content-Length: ");
      w.number(body.size());
      w.put("\r\n");
    }
    if (!hop_error.empty()) w.field("x-hop-error", hop_error);
    if (!location.empty()) w.field("Location", location);
    if (close) w.put("Connection: close\r\n");
    w.put("\r\n");
  }  // the head is in `out` now; the body goes straight there, not through the scratch
  if (!head_only) out.append(body);
}

namespace {
struct HexPairs {  // "00".."ff": a byte's two hex digits in one lookup
  char t[256][2] = {};
  constexpr HexPairs() {
    const char* hex = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) t[i][0] = hex[i >> 4], t[i][1] = hex[i & 15];
  }
};
constexpr HexPairs kHexPairs;
}  // namespace

// W3C traceparent "00-<32 hex trace id>-<16 hex parent id>-01" (55 chars). Written with a
// table, not snprintf: formatting with snprintf was a fifth of the proxy's instructions.
size_t make_traceparent(uint64_t a, uint64_t b, uint64_t c, char* out) {
  auto put = [](char* p, uint64_t v) {
    for (int i = 14; i >= 0; i -= 2, v >>= 8) std::memcpy(p + i, kHexPairs.t[v & 0xff], 2);
  };
  std::memcpy(out, "00-", 3);
  put(out + 3, a);
  put(out + 19, b);
  out[35] = '-';
  put(out + 36, c);
  std::memcpy(out + 52, "-01", 3);
  return 55;
}

std::string_view reason_phrase(int status) {
  std::string_view r = http::reason_phrase(status);
  if (!r.empty()) return r;
  return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
}

}  // namespace hop::proxy
