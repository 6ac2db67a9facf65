#include "http/h1_parser.h"

#include <cctype>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace hop::http {

namespace {

// A byte class as a table, so the parser's innermost loops test membership with one
// load: ASCII letters and digits plus `extra`.
struct AlnumPlus {
  bool t[256] = {};
  constexpr explicit AlnumPlus(std::string_view extra) {
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
    for (char c : extra) t[static_cast<unsigned char>(c)] = true;
  }
};
constexpr AlnumPlus kTchar("!#$%&'*+-.^_`|~");  // RFC 9110 §5.6.2 tchar
// Host reg-name / IPv4 characters (RFC 3986 unreserved, sub-delims and '%').
constexpr AlnumPlus kHostChar("-._~!$&'()*+,;=%");

// field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5). Everything else, notably NUL, CR, LF
// and other controls, is rejected because downstream parsers disagree about them.
constexpr bool is_field_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }
struct FieldCharTable {
  bool t[256] = {};
  constexpr FieldCharTable() {
    for (int c = 0; c < 256; ++c) t[c] = is_field_char(static_cast<unsigned char>(c));
  }
};
constexpr FieldCharTable kFieldChar;

// The first byte at or after p that is not a field character. A non-field byte (the line's
// CR) lies before limit, the end of the caller's buffer; 16-byte loads stay below limit.
// Field values are most of a head's bytes, so they are checked 16 at a time.
inline const char* skip_field_chars(const char* p, const char* limit) {
#ifdef __SSE2__
  const __m128i k1f = _mm_set1_epi8(0x1f), k7f = _mm_set1_epi8(0x7f);
  while (limit - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, k1f), k1f);  // bytes <= 0x1f
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, k7f))));
    if (mask == 0) {
      p += 16;
      continue;
    }
    p += __builtin_ctz(mask);
    if (*p != '\t') return p;
    ++p;  // HTAB is allowed in a value: go on after it
  }
#endif
  while (kFieldChar.t[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool parse_content_length(std::string_view v, uint64_t& out) {
  // Digits only: "+5", "5, 5", " 5x" and 20-digit overflows are all rejected (RFC 9112 §6.3
  // item 5: an invalid Content-Length is unrecoverable framing).
  if (v.empty() || v.size() > 18) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  out = n;
  return true;
}

struct Line {
  const char* begin;
  size_t len;  // without CRLF
};

// Finds the end of the head. Returns kOk with head_len set, kIncomplete, or kError on a bare
// LF / bare CR. first_line_len reports the request/status line length once known.
ParseResult find_head_end(const char* data, size_t len, size_t start, size_t& head_len, size_t& first_line_len,
                          ParseError& err) {
  size_t line_start = start;
  first_line_len = SIZE_MAX;
  const char* p = data + start;
  const char* end = data + len;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!nl) return ParseResult::kIncomplete;
    size_t i = static_cast<size_t>(nl - data);
    if (i == line_start || data[i - 1] != '\r') {
      err = {400, "bare LF in message head"};
      return ParseResult::kError;
    }
    if (first_line_len == SIZE_MAX) first_line_len = i - 1 - start;
    if (i - 1 == line_start) {  // empty line: end of head
      head_len = i + 1;
      return ParseResult::kOk;
    }
    line_start = i + 1;
    p = nl + 1;
  }
  return ParseResult::kIncomplete;
}

// Parses header lines between [p, end) where end points at the final CRLF (find_head_end
// has checked that every line of the head ends in CRLF); limit is the end of the buffer. Calls on_field for each; returns
// false with err on any malformed line. One pass per line: the name scan stops at the
// first non-tchar, the value scan at the first non-field character, which for a good line
// is the CR of its CRLF, so no separate search for the line end is needed.
template <typename OnField>
bool parse_fields(const char* p, const char* end, const char* limit, const H1Limits& limits, HeaderList& headers,
                  ParseError& err, OnField&& on_field) {
  while (p < end) {
    const char* name_begin = p;
    while (kTchar.t[static_cast<unsigned char>(*p)]) ++p;  // stops at the line's CR at the latest
    if (p == name_begin || *p != ':') {
      if (p == name_begin && (*p == ' ' || *p == '\t')) err = {400, "obsolete line folding"};  // RFC 9112 §5.2
      else if (*p == ' ' || *p == '\t') err = {400, "whitespace before colon in header field"};
      else if (*p == '\r' && p[1] != '\n') err = {400, "bare CR in header field"};
      else err = {400, "invalid header field name"};
      return false;
    }
    std::string_view name(name_begin, static_cast<size_t>(p - name_begin));
    const char* value_begin = ++p;
    p = skip_field_chars(p, limit);  // stops at the CR (or a bad byte)
    if (*p != '\r' || p[1] != '\n') {
      err = {400, *p == '\r' ? "bare CR in header field" : "control character in header field value"};
      return false;
    }
    std::string_view value = trim_ows(std::string_view(value_begin, static_cast<size_t>(p - value_begin)));
    p += 2;
    if (headers.size() >= limits.max_headers) {
      err = {431, "too many header fields"};
      return false;
    }
    headers.add(name, value);
    if (!on_field(name, value)) return false;
  }
  return true;
}

int parse_version(std::string_view v, ParseError& err) {
  // "HTTP/1.1" exactly; another well-formed HTTP version is 505, anything else 400.
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
      v[7] > '9') {
    err = {400, "malformed HTTP version"};
    return -1;
  }
  if (v[5] != '1') {
    err = {505, "HTTP version not supported"};
    return -1;
  }
  // RFC 9112 §2.3: a higher minor version is answered as the highest we speak.
  return v[7] >= '1' ? 1 : 0;
}

// Shared framing headers of requests and responses.
struct FramingFields {
  bool has_cl = false;
  bool bad_cl = false;
  uint64_t cl = 0;
  int te_count = 0;           // codings seen across all Transfer-Encoding fields
  bool te_final_chunked = false;
  bool te_chunked_not_last = false;
  bool te_other = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool connection_options = false;

  bool on_field(std::string_view name, std::string_view value) {
    if (name.size() == 14 && iequals(name, "content-length")) {
      uint64_t v = 0;
      if (!parse_content_length(value, v) || (has_cl && v != cl)) bad_cl = true;
      has_cl = true;
      cl = v;
    } else if (name.size() == 17 && iequals(name, "transfer-encoding")) {
      size_t pos = 0;
      while (pos <= value.size()) {
        size_t comma = value.find(',', pos);
        if (comma == std::string_view::npos) comma = value.size();
        std::string_view coding = trim_ows(value.substr(pos, comma - pos));
        pos = comma + 1;
        if (coding.empty()) continue;
        if (te_final_chunked) te_chunked_not_last = true;  // chunked must be applied once, last
        ++te_count;
        if (iequals(coding, "chunked")) te_final_chunked = true;
        else { te_final_chunked = false; te_other = true; }
      }
    } else if (name.size() == 10 && iequals(name, "connection")) {
      size_t pos = 0;
      while (pos <= value.size()) {
        size_t comma = value.find(',', pos);
        if (comma == std::string_view::npos) comma = value.size();
        std::string_view opt = trim_ows(value.substr(pos, comma - pos));
        pos = comma + 1;
        if (opt.empty()) continue;
        if (iequals(opt, "close")) conn_close = true;
        else if (iequals(opt, "keep-alive")) conn_keep_alive = true;
        else if (iequals(opt, "upgrade")) conn_upgrade = true;
        else connection_options = true;
      }
    }
    return true;
  }
};

// Host = uri-host [ ":" port ] (RFC 9110 §7.2): a reg-name or IPv4 (no ':'), or an IPv6
// literal in brackets; the port is digits only. Empty is valid (HTTP/1.0 without Host).
bool valid_host(std::string_view h) {
  std::string_view port;
  if (!h.empty() && h[0] == '[') {
    size_t close = h.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : h.substr(1, close - 1))
      if (!(isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    std::string_view rest = h.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    size_t colon = h.find(':');
    std::string_view name = h.substr(0, colon);
    if (colon != std::string_view::npos) port = h.substr(colon + 1);
    for (char c : name)
      if (!kHostChar.t[static_cast<unsigned char>(c)]) return false;
  }
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return port.size() <= 5;
}

}  // namespace

bool is_tchar(unsigned char c) { return kTchar.t[c]; }

bool parse_field_lines(std::string_view lines, const H1Limits& limits, HeaderList& fields, ParseError& err) {
  fields.clear();
  if (lines.empty()) return true;
  if (lines.size() < 2 || lines.substr(lines.size() - 2) != "\r\n") {
    err = {400, "field lines must end in CRLF"};
    return false;
  }
  // parse_fields needs every line to end in CRLF (its scans stop at the CR): checked for
  // the last line above, and a line break is CRLF only in what the chunked decoder keeps.
  for (size_t i = lines.find('\n'); i != std::string_view::npos; i = lines.find('\n', i + 1))
    if (i == 0 || lines[i - 1] != '\r') {
      err = {400, "bare LF in field lines"};
      return false;
    }
  const char* end = lines.data() + lines.size();
  return parse_fields(lines.data(), end, end, limits, fields, err, [](std::string_view, std::string_view) { return true; });
}

bool is_connection_specific(std::string_view name) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
                             "host", "trailer"})
    if (iequals(name, n)) return true;
  return false;
}

bool list_contains(std::string_view list, std::string_view token) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    if (iequals(trim_ows(list.substr(pos, comma - pos)), token)) return true;
    pos = comma + 1;
  }
  return false;
}

std::string_view HeaderList::get(std::string_view name) const {
  for (const auto& h : fields_)
    if (h.name.size() == name.size() && iequals(h.name, name)) return h.value;
  return {};
}

bool HeaderList::has(std::string_view name) const {
  for (const auto& h : fields_)
    if (h.name.size() == name.size() && iequals(h.name, name)) return true;
  return false;
}

ParseResult parse_request(const char* data, size_t len, const H1Limits& limits, RequestHead& head,
                          ParseError& err) {
  // RFC 9112 §2.2: ignore a few empty lines before the request line (some clients send a
  // CRLF after a POST body).
  size_t start = 0;
  while (start + 1 < len && start < 8 && data[start] == '\r' && data[start + 1] == '\n') start += 2;

  size_t head_len = 0, first_line_len = 0;
  ParseResult r = find_head_end(data, len, start, head_len, first_line_len, err);
  if (r == ParseResult::kError) return r;
  if (r == ParseResult::kIncomplete) {
    if (first_line_len == SIZE_MAX && len - start > limits.max_request_line) {
      err = {414, "request line too long"};
      return ParseResult::kError;
    }
    if (len > limits.max_head_bytes) {
      err = {431, "request header fields too large"};
      return ParseResult::kError;
    }
    return ParseResult::kIncomplete;
  }
  if (first_line_len > limits.max_request_line) {
    err = {414, "request line too long"};
    return ParseResult::kError;
  }
  if (head_len > limits.max_head_bytes) {
    err = {431, "request header fields too large"};
    return ParseResult::kError;
  }

  head.headers.clear();
  head.head_bytes = head_len;
  std::string_view line(data + start, first_line_len);

  // request-line = method SP request-target SP HTTP-version (single spaces, RFC 9112 §3)
  size_t i = 0;
  while (i < line.size() && kTchar.t[static_cast<unsigned char>(line[i])]) ++i;
  if (i == 0 || i >= line.size() || line[i] != ' ') {
    err = {400, "malformed request line"};
    return ParseResult::kError;
  }
  head.method = line.substr(0, i);
  size_t t = i + 1;
  size_t j = t;
  while (j < line.size() && static_cast<unsigned char>(line[j]) > 0x20 && static_cast<unsigned char>(line[j]) < 0x7f)
    ++j;
  if (j == t || j >= line.size() || line[j] != ' ') {
    err = {400, "malformed request target"};
    return ParseResult::kError;
  }
  head.target = line.substr(t, j - t);
  if (head.target.find('#') != std::string_view::npos) {
    err = {400, "fragment in request target"};  // RFC 9112 §3.2: never sent by clients
    return ParseResult::kError;
  }
  int minor = parse_version(line.substr(j + 1), err);
  if (minor < 0) return ParseResult::kError;
  head.version_minor = minor;
  if (head.target[0] == '/') {
    head.path = head.target.substr(0, head.target.find('?'));
    head.origin_target = head.target;
  } else if (head.target == "*" && head.method == "OPTIONS") {
    head.path = head.target;
    head.origin_target = head.target;
  } else {
    // absolute-form (RFC 9112 §3.2.2): the path starts after the authority.
    size_t scheme = head.target.find("://");
    if (scheme == std::string_view::npos) {
      err = {400, "unsupported request target form"};
      return ParseResult::kError;
    }
    size_t slash = head.target.find_first_of("/?", scheme + 3);
    if (slash == std::string_view::npos || head.target[slash] == '?') {
      // "http://host" and "http://host?q" have an empty path, which means "/" — but
      // "/" is not in the buffer to point at, so such targets are refused rather than
      // rewritten into something the client did not send.
      err = {400, "absolute-form target without a path"};
      return ParseResult::kError;
    }
    head.origin_target = head.target.substr(slash);
    head.path = head.origin_target.substr(0, head.origin_target.find('?'));
  }
  head.is_head = head.method == "HEAD";

  FramingFields f;
  int host_count = 0;
  bool bad_expect = false;
  head.expect_continue = false;
  head.has_upgrade = false;
  const char* fields = data + start + first_line_len + 2;
  const char* fields_end = data + head_len - 2;
  bool ok = parse_fields(fields, fields_end, data + len, limits, head.headers, err, [&](std::string_view n, std::string_view v) {
    f.on_field(n, v);
    if (n.size() == 4 && iequals(n, "host")) {
      ++host_count;
      head.host = v;
    } else if (n.size() == 6 && iequals(n, "expect")) {
      if (iequals(v, "100-continue")) head.expect_continue = true;
      else bad_expect = true;
    } else if (n.size() == 7 && iequals(n, "upgrade")) {
      head.has_upgrade = true;
    }
    return true;
  });
  if (!ok) return ParseResult::kError;

  if (host_count > 1 || (host_count == 0 && minor == 1)) {
    err = {400, host_count ? "multiple Host header fields" : "missing Host header field"};
    return ParseResult::kError;
  }
  if (host_count == 0) head.host = {};
  if (!valid_host(head.host)) {
    err = {400, "invalid Host header field"};
    return ParseResult::kError;
  }
  if (f.bad_cl) {
    err = {400, "invalid or differing Content-Length"};
    return ParseResult::kError;
  }
  if (f.te_count > 0) {
    // RFC 9112 §6.1: CL with TE is an error for a proxy to forward; TE in HTTP/1.0 is
    // faulty framing; chunked must be the final coding, applied once.
    if (f.has_cl) {
      err = {400, "both Content-Length and Transfer-Encoding"};
      return ParseResult::kError;
    }
    if (minor == 0) {
      err = {400, "Transfer-Encoding in an HTTP/1.0 request"};
      return ParseResult::kError;
    }
    if (!f.te_final_chunked || f.te_chunked_not_last) {
      err = {400, "chunked is not the final transfer coding"};
      return ParseResult::kError;
    }
    if (f.te_other) {
      err = {501, "unsupported transfer coding"};
      return ParseResult::kError;
    }
    head.framing = BodyFraming::kChunked;
    head.content_length = 0;
  } else if (f.has_cl && f.cl > 0) {
    head.framing = BodyFraming::kContentLength;
    head.content_length = f.cl;
  } else {
    head.framing = BodyFraming::kNone;
    head.content_length = 0;
  }
  if (bad_expect) {
    err = {417, "unsupported expectation"};
    return ParseResult::kError;
  }
  head.keep_alive = minor == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
  head.connection_options = f.connection_options;
  if (!f.conn_upgrade) head.has_upgrade = false;
  return ParseResult::kOk;
}

ParseResult parse_response(const char* data, size_t len, const H1Limits& limits, bool request_was_head,
                           ResponseHead& head, ParseError& err) {
  size_t head_len = 0, first_line_len = 0;
  ParseResult r = find_head_end(data, len, 0, head_len, first_line_len, err);
  if (r == ParseResult::kError) {
    err = {502, "malformed upstream response: bare LF"};
    return r;
  }
  if (r == ParseResult::kIncomplete) {
    if (len > limits.max_head_bytes) {
      err = {502, "upstream response head too large"};
      return ParseResult::kError;
    }
    return r;
  }
  if (head_len > limits.max_head_bytes) {
    err = {502, "upstream response head too large"};
    return ParseResult::kError;
  }
  head.headers.clear();
  head.head_bytes = head_len;
  std::string_view line(data, first_line_len);
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  if (line.size() < 12 || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    err = {502, "malformed upstream status line"};
    return ParseResult::kError;
  }
  ParseError verr;
  int minor = parse_version(line.substr(0, 8), verr);
  if (minor < 0) {
    err = {502, "unsupported upstream HTTP version"};
    return ParseResult::kError;
  }
  head.version_minor = minor;
  int status = 0;
  for (int k = 9; k < 12; ++k) {
    if (line[k] < '0' || line[k] > '9') {
      err = {502, "malformed upstream status code"};
      return ParseResult::kError;
    }
    status = status * 10 + (line[k] - '0');
  }
  if (status < 100) {
    err = {502, "malformed upstream status code"};
    return ParseResult::kError;
  }
  head.status = status;
  head.reason = line.size() > 13 ? line.substr(13) : std::string_view();
  for (char c : head.reason) {
    if (!is_field_char(static_cast<unsigned char>(c))) {
      err = {502, "control character in upstream reason phrase"};
      return ParseResult::kError;
    }
  }

  FramingFields f;
  const char* fields = data + first_line_len + 2;
  const char* fields_end = data + head_len - 2;
  ParseError ferr;
  if (fields < fields_end &&
      !parse_fields(fields, fields_end, data + len, limits, head.headers, ferr, [&](std::string_view n, std::string_view v) {
        return f.on_field(n, v);
      })) {
    err = {502, "malformed upstream header field"};
    return ParseResult::kError;
  }
  if (f.bad_cl) {
    err = {502, "invalid upstream Content-Length"};
    return ParseResult::kError;
  }
  head.connection_options = f.connection_options;
  head.keep_alive = minor == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
  head.content_length = 0;
  if (request_was_head || status < 200 || status == 204 || status == 304) {
    head.framing = BodyFraming::kNone;  // RFC 9112 §6.3 items 1-2
    return ParseResult::kOk;
  }
  if (f.te_count > 0) {
    if (f.has_cl || !f.te_final_chunked || f.te_chunked_not_last || f.te_other) {
      // Legal in theory (close-delimited), but a response whose length two parsers could
      // read differently is not worth forwarding.
      err = {502, "ambiguous upstream Transfer-Encoding"};
      return ParseResult::kError;
    }
    head.framing = BodyFraming::kChunked;
  } else if (f.has_cl) {
    head.framing = f.cl ? BodyFraming::kContentLength : BodyFraming::kNone;
    head.content_length = f.cl;
  } else {
    head.framing = BodyFraming::kUntilClose;
    head.keep_alive = false;
  }
  return ParseResult::kOk;
}

}  // namespace hop::http
