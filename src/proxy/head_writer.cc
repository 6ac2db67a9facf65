#include "proxy/head_writer.h"

#include "http/status.h"

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
void add_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}
// Appends the values of every `name` field, comma-joined: repeated field lines are one
// list (RFC 9110 §5.3), so no earlier hop is lost when hop appends its own.
bool append_all(std::string& out, const http::HeaderList& headers, std::string_view name) {
  bool any = false;
  for (const auto& h : headers) {
    if (h.name.size() != name.size() || !iequals(h.name, name)) continue;
    if (any) out.append(", ");
    out.append(h.value);
    any = true;
  }
  return any;
}
void append_uint(std::string& out, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, static_cast<size_t>(r.ptr - tmp));
}
}  // namespace

void write_upstream_request_head(const http::RequestHead& req, const UpstreamRequestParams& p, std::string& out) {
  out.clear();
  out.append(req.method);
  out.push_back(' ');
  out.append(p.target);
  out.append(" HTTP/1.1\r\n");
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
    add_field(out, h.name, h.value);
  }
  if (!p.host_override.empty()) add_field(out, "Host", p.host_override);
  else if (!has_host && !p.host_fallback.empty()) add_field(out, "Host", p.host_fallback);
  if (req.framing == http::BodyFraming::kContentLength) {
    out.append("Content-Length: ");
    append_uint(out, req.content_length);
    out.append("\r\n");
  } else if (req.framing == http::BodyFraming::kChunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  out.append("X-Forwarded-For: ");
  if (has_xff && append_all(out, req.headers, "x-forwarded-for")) out.append(", ");
  out.append(p.client_ip);
  out.append("\r\nX-Forwarded-Proto: ");
  out.append(p.proto);
  out.append("\r\nVia: ");
  if (has_via && append_all(out, req.headers, "via")) out.append(", ");
  out.append(!p.via.empty() ? p.via : req.version_minor == 0 ? "1.0 hop" : "1.1 hop");
  out.append("\r\n");
  if (!p.traceparent.empty()) add_field(out, "traceparent", p.traceparent);
  out.append("\r\n");
}

void write_downstream_response_head(const http::ResponseHead& resp, const DownstreamResponseParams& p,
                                    std::string& out) {
  out.append("HTTP/1.1 ");
  append_uint(out, static_cast<uint64_t>(resp.status));
  out.push_back(' ');
  out.append(resp.reason.empty() ? reason_phrase(resp.status) : resp.reason);
  out.append("\r\n");
  bool has_via = false;
  for (const auto& h : resp.headers) {
    if (is_hop_by_hop(h.name, resp.headers, resp.connection_options)) continue;
    if (h.name.size() == 14 && iequals(h.name, "content-length")) continue;
    if (h.name.size() == 3 && iequals(h.name, "via")) { has_via = true; continue; }
    add_field(out, h.name, h.value);
  }
  // 204 never has content (RFC 9110 §15.3.5); HEAD and 304 keep the upstream's
  // Content-Length: it describes the representation.
  if (resp.status != 204 && (resp.framing == http::BodyFraming::kContentLength ||
                             (resp.framing == http::BodyFraming::kNone && resp.headers.has("content-length")))) {
    // HEAD and 304 responses keep the upstream's Content-Length: it describes the entity.
    out.append("Content-Length: ");
    if (resp.framing == http::BodyFraming::kContentLength) append_uint(out, resp.content_length);
    else out.append(resp.headers.get("content-length"));
    out.append("\r\n");
  }
  if (p.chunked) out.append("Transfer-Encoding: chunked\r\n");
  out.append("Via: ");
  if (has_via && append_all(out, resp.headers, "via")) out.append(", ");
  out.append(resp.version_minor == 0 ? "1.0 hop\r\n" : "1.1 hop\r\n");
  if (!p.server_timing.empty()) add_field(out, "Server-Timing", p.server_timing);
  if (p.close) out.append("Connection: close\r\n");
  else if (p.client_http10) out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
}

void write_local_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view hop_error, std::string_view location, bool close, bool head_only,
                          std::string& out) {
  out.append("HTTP/1.1 ");
  append_uint(out, static_cast<uint64_t>(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\nServer: hop\r\n");
  bool no_content = status == 204 || status == 304 || status < 200;
  if (no_content) {
    body = {};  // RFC 9110 §15.3.5, §15.4.5: these never carry content
  } else {
    if (!content_type.empty()) add_field(out, "Content-Type", content_type);
    out.append("Content-Length: ");
    append_uint(out, body.size());
    out.append("\r\n");
  }
  if (!hop_error.empty()) add_field(out, "x-hop-error", hop_error);
  if (!location.empty()) add_field(out, "Location", location);
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!head_only) out.append(body);
}

// W3C traceparent "00-<32 hex trace id>-<16 hex parent id>-01" (55 chars). Written with a
// table, not snprintf: formatting with snprintf was a fifth of the proxy's instructions.
size_t make_traceparent(uint64_t a, uint64_t b, uint64_t c, char* out) {
  static const char kHex[] = "0123456789abcdef";
  auto put = [](char* p, uint64_t v) {
    for (int i = 15; i >= 0; --i, v >>= 4) p[i] = kHex[v & 15];
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
