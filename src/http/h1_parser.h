// Strict HTTP/1.1 message-head parsing (RFC 9112). The parser works on a contiguous buffer
// that holds the whole head, returns views into it and never allocates: the proxy keeps the
// bytes alive until it has rewritten the head for the other side.
//
// Strictness is a security property here: every ambiguity that lets two parsers disagree
// about where a message ends (CL+TE, differing CLs, bare LF, obs-fold, whitespace before the
// colon) is rejected, never "repaired", so hop cannot be used to smuggle requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/headers.h"

namespace hop::http {

struct H1Limits {
  size_t max_request_line = 8 * 1024;   // longer → 414
  size_t max_head_bytes = 16 * 1024;    // request line + headers; longer → 431
  size_t max_headers = 100;             // more fields → 431
};

enum class BodyFraming : uint8_t { kNone, kContentLength, kChunked, kUntilClose };

// Outcome of a parse: kIncomplete (need more bytes), kOk, or kError with the status to send.
enum class ParseResult : uint8_t { kIncomplete, kOk, kError };

struct ParseError {
  int status = 400;
  std::string_view reason;  // static text, shown in the error body and the access log
};

struct RequestHead {
  std::string_view method;
  std::string_view target;     // origin-form "/path?q" (or absolute-form / "*" / authority)
  std::string_view path;       // target up to '?'
  std::string_view origin_target;  // path and query: what a gateway forwards (RFC 9112 §3.2.1)
  std::string_view host;       // Host header value
  int version_minor = 1;       // HTTP/1.x
  HeaderList headers;
  size_t head_bytes = 0;       // bytes of the head including the final CRLFCRLF
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  bool is_head = false;
  bool has_upgrade = false;
  // Connection lists options besides close/keep-alive/upgrade: the fields they name are
  // hop-by-hop for this message (RFC 9110 §7.6.1), on every Connection line.
  bool connection_options = false;
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  HeaderList headers;
  size_t head_bytes = 0;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool connection_options = false;
};

// Parses a request head from data[0..len). On kOk, head.head_bytes says where the body
// starts. Views point into data.
ParseResult parse_request(const char* data, size_t len, const H1Limits& limits, RequestHead& head,
                          ParseError& err);

// Parses a response head. request_was_head / request_method_connect decide framing
// (RFC 9112 §6.3: HEAD responses and 1xx/204/304 have no body).
ParseResult parse_response(const char* data, size_t len, const H1Limits& limits, bool request_was_head,
                           ResponseHead& head, ParseError& err);

// Parses a block of field lines, each ending in CRLF and nothing after the last (a chunked
// body's trailer section), with the same rules as a header section. Views point into
// lines. false with err when a line is malformed or there are more than max_headers.
bool parse_field_lines(std::string_view lines, const H1Limits& limits, HeaderList& fields, ParseError& err);

// Header-name and token helpers shared by codecs.
bool is_tchar(unsigned char c);
// 0-15 for a hex digit (either case), else -1: chunk sizes, percent-encoding.
inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// ASCII case-insensitive equality. Inline and equal-bytes-first: it runs several times per
// header field on the proxy's hot path, where both sides usually already agree in case.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    x |= 0x20;  // differ only in case: same letter once both are lowercase
    if (x != (y | 0x20) || x < 'a' || x > 'z') return false;
  }
  return true;
}
// Appends s with ASCII letters lowercased (HTTP/2 field names).
inline void append_lowercase(std::string& out, std::string_view s) {
  for (char c : s) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
}
// Fields that describe one connection, never a message passed to another (RFC 9113
// §8.2.2: never forwarded to or from an HTTP/2 peer; never trailers either). Any case.
bool is_connection_specific(std::string_view name);
// True when the comma-separated list `list` contains `token` (case-insensitive, OWS trimmed).
bool list_contains(std::string_view list, std::string_view token);

}  // namespace hop::http
