#include "proxy/head_writer.h"

#include <charconv>

namespace hop::proxy {

using http::iequals;

bool is_hop_by_hop(std::string_view name, std::string_view connection_tokens) {
  switch (name.size()) {
    case 2: if (iequals(name, "te")) return true; break;
    case 7: if (iequals(name, "upgrade") || iequals(name, "trailer")) return true; break;
    case 10: if (iequals(name, "connection") || iequals(name, "keep-alive")) return true; break;
    case 16: if (iequals(name, "proxy-connection")) return true; break;
    case 17: if (iequals(name, "transfer-encoding")) return true; break;
    default: break;
  }
  return !connection_tokens.empty() && http::list_contains(connection_tokens, name);
}

namespace {
void add_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
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
  std::string_view xff, via;
  bool has_host = false;
  for (const auto& h : req.headers) {
    if (is_hop_by_hop(h.name, req.connection_tokens)) continue;
    switch (h.name.size()) {
      case 4:
        if (iequals(h.name, "host")) has_host = true;
        break;
      case 3:
        if (iequals(h.name, "via")) { via = h.value; continue; }
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
        if (iequals(h.name, "x-forwarded-for")) { xff = h.value; continue; }
        break;
      case 17:
        if (iequals(h.name, "x-forwarded-proto")) continue;
        break;
      default:
        break;
    }
    add_field(out, h.name, h.value);
  }
  if (!has_host && !p.host_fallback.empty()) add_field(out, "Host", p.host_fallback);
  if (req.framing == http::BodyFraming::kContentLength) {
    out.append("Content-Length: ");
    append_uint(out, req.content_length);
    out.append("\r\n");
  } else if (req.framing == http::BodyFraming::kChunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  out.append("X-Forwarded-For: ");
  if (!xff.empty()) {
    out.append(xff);
    out.append(", ");
  }
  out.append(p.client_ip);
  out.append("\r\nX-Forwarded-Proto: http\r\nVia: ");
  if (!via.empty()) {
    out.append(via);
    out.append(", ");
  }
  out.append(req.version_minor == 0 ? "1.0 hop" : "1.1 hop");
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
  std::string_view via;
  for (const auto& h : resp.headers) {
    if (is_hop_by_hop(h.name, resp.connection_tokens)) continue;
    if (h.name.size() == 14 && iequals(h.name, "content-length")) continue;
    if (h.name.size() == 3 && iequals(h.name, "via")) { via = h.value; continue; }
    add_field(out, h.name, h.value);
  }
  if (resp.framing == http::BodyFraming::kContentLength ||
      (resp.framing == http::BodyFraming::kNone && resp.headers.has("content-length"))) {
    // HEAD and 304 responses keep the upstream's Content-Length: it describes the entity.
    out.append("Content-Length: ");
    if (resp.framing == http::BodyFraming::kContentLength) append_uint(out, resp.content_length);
    else out.append(resp.headers.get("content-length"));
    out.append("\r\n");
  }
  if (p.chunked) out.append("Transfer-Encoding: chunked\r\n");
  out.append("Via: ");
  if (!via.empty()) {
    out.append(via);
    out.append(", ");
  }
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
  if (!content_type.empty()) add_field(out, "Content-Type", content_type);
  out.append("Content-Length: ");
  append_uint(out, body.size());
  out.append("\r\n");
  if (!hop_error.empty()) add_field(out, "x-hop-error", hop_error);
  if (!location.empty()) add_field(out, "Location", location);
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!head_only) out.append(body);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
  }
}

}  // namespace hop::proxy
