#include "trace/h1_response_reader.h"

#include <algorithm>
#include <charconv>

#include "trace/http_tokens.h"

namespace hop::trace {

namespace {

// True when the comma-separated list contains token (case-insensitive).
bool list_has(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view last_of_list(std::string_view list) {
  auto comma = list.rfind(',');
  return trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
}

}  // namespace

H1ResponseReader::H1ResponseReader(bool head_request, H1Limits limits)
    : head_request_(head_request), limits_(limits) {}

std::string H1ResponseReader::header(std::string_view name) const {
  std::string out;
  for (const auto& [k, v] : headers_) {
    if (!iequals(k, name)) continue;
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

void H1ResponseReader::fail(std::string message) {
  state_ = State::kError;
  error_ = std::move(message);
}

// Accumulates up to CRLF. RFC 9112 §2.2 lets a recipient accept a bare LF; we do, since
// this is a diagnostic client, but a bare CR inside a line is refused.
bool H1ResponseReader::take_line(std::string_view data, size_t& used, std::string& line,
                                 bool& complete) {
  complete = false;
  while (used < data.size()) {
    char c = data[used++];
    if (c == '\n') {
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.find('\r') != std::string::npos) {
        fail("bare CR in response line");
        return false;
      }
      line.swap(line_);
      line_.clear();
      complete = true;
      return true;
    }
    line_.push_back(c);
    if (line_.size() > limits_.max_line) {
      fail("response line longer than " + std::to_string(limits_.max_line) + " bytes");
      return false;
    }
  }
  return true;
}

size_t H1ResponseReader::feed(std::string_view data) {
  size_t used = 0;
  std::string line;
  bool complete = false;
  while (used < data.size() && state_ != State::kDone && state_ != State::kError) {
    switch (state_) {
      case State::kStatusLine:
      case State::kHeaders:
      case State::kChunkSize:
      case State::kChunkDataEnd:
      case State::kTrailers: {
        size_t before = used;
        if (!take_line(data, used, line, complete)) return used;
        if (state_ != State::kChunkSize && state_ != State::kChunkDataEnd) {
          head_bytes_ += used - before;
          if (head_bytes_ > limits_.max_header_bytes) {
            fail("response head larger than " + std::to_string(limits_.max_header_bytes) +
                 " bytes");
            return used;
          }
        }
        if (!complete) return used;
        if (state_ == State::kStatusLine) {
          on_status_line(line);
        } else if (state_ == State::kHeaders) {
          if (line.empty()) on_head_complete();
          else on_header_line(line, false);
        } else if (state_ == State::kChunkSize) {
          on_chunk_size_line(line);
        } else if (state_ == State::kChunkDataEnd) {
          if (!line.empty()) fail("chunk data not followed by CRLF");
          else state_ = State::kChunkSize;
        } else {  // trailers
          if (line.empty()) state_ = State::kDone;
          else on_header_line(line, true);
        }
        break;
      }
      case State::kBodyLength:
      case State::kChunkData: {
        uint64_t take = std::min<uint64_t>(remaining_, data.size() - used);
        deliver(data.substr(used, take));
        used += take;
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) state_ = state_ == State::kBodyLength ? State::kDone
                                                                   : State::kChunkDataEnd;
        break;
      }
      case State::kBodyUntilClose:
        deliver(data.substr(used));
        body_bytes_ += data.size() - used;
        used = data.size();
        break;
      case State::kDone:
      case State::kError:
        break;
    }
  }
  return used;
}

void H1ResponseReader::deliver(std::string_view body) {
  if (sink_ && !body.empty()) sink_(body);
}

void H1ResponseReader::on_eof() {
  if (state_ == State::kBodyUntilClose) {
    state_ = State::kDone;
  } else if (state_ != State::kDone && state_ != State::kError) {
    fail(state_ <= State::kHeaders ? "connection closed before the response head was complete"
                                   : "connection closed before the body was complete");
  }
}

void H1ResponseReader::on_status_line(const std::string& line) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]  (RFC 9112 §4)
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' ')) {
    fail("malformed status line: " + line.substr(0, 64));
    return;
  }
  if (line[7] != '0' && line[7] != '1') {
    fail("unsupported HTTP version in status line");
    return;
  }
  minor_version_ = line[7] - '0';
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      fail("malformed status code");
      return;
    }
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100) {
    fail("status code out of range");
    return;
  }
  status_ = code;
  reason_ = line.size() > 13 ? line.substr(13) : "";
  state_ = State::kHeaders;
}

void H1ResponseReader::on_header_line(const std::string& line, bool trailer) {
  if (line.front() == ' ' || line.front() == '\t') {
    fail("obsolete line folding in response header");  // RFC 9112 §5.2
    return;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0) {
    fail("malformed header line");
    return;
  }
  std::string_view name(line.data(), colon);
  if (!is_token(name)) {
    fail("invalid header name");  // also stops "Name : value" (RFC 9112 §5.1)
    return;
  }
  if (headers_.size() >= limits_.max_headers) {
    fail("more than " + std::to_string(limits_.max_headers) + " response headers");
    return;
  }
  // Trailers are kept too: Server-Timing may arrive as a trailer (spec §3).
  (void)trailer;
  headers_.emplace_back(std::string(name), std::string(trim_ows(std::string_view(line).substr(colon + 1))));
}

void H1ResponseReader::on_head_complete() {
  // 1xx are interim (RFC 9110 §15.2): the final response follows on the same stream.
  if (status_ >= 100 && status_ < 200 && status_ != 101) {
    headers_.clear();
    head_bytes_ = 0;
    state_ = State::kStatusLine;
    return;
  }
  head_complete_ = true;
  std::string connection = header("connection");
  keep_alive_ = minor_version_ == 1 ? !list_has(connection, "close")
                                    : list_has(connection, "keep-alive");
  if (head_request_ || status_ == 204 || status_ == 304 || status_ == 101) {
    state_ = State::kDone;  // RFC 9112 §6.3 item 1: no body whatever the headers say
    return;
  }
  std::string te = header("transfer-encoding");
  std::string cl;
  bool have_cl = false;
  for (const auto& [k, v] : headers_) {
    if (!iequals(k, "content-length")) continue;
    // Differing lengths are how responses get split for cache poisoning (§6.3 item 5).
    if (have_cl && v != cl) {
      fail("conflicting Content-Length headers");
      return;
    }
    have_cl = true;
    cl = v;
  }
  if (!te.empty()) {
    if (have_cl) {
      fail("both Transfer-Encoding and Content-Length (RFC 9112 §6.3: smuggling risk)");
      return;
    }
    if (iequals(last_of_list(te), "chunked")) {
      state_ = State::kChunkSize;
    } else {
      keep_alive_ = false;  // §6.3 item 4: read until close
      state_ = State::kBodyUntilClose;
    }
    return;
  }
  if (have_cl) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (cl.empty() || ec != std::errc{} || end != cl.data() + cl.size()) {
      fail("invalid Content-Length: " + cl.substr(0, 32));
      return;
    }
    remaining_ = n;
    state_ = n == 0 ? State::kDone : State::kBodyLength;
    return;
  }
  keep_alive_ = false;
  state_ = State::kBodyUntilClose;
}

void H1ResponseReader::on_chunk_size_line(const std::string& line) {
  // chunk-size is 1*HEXDIG; extensions after ';' are ignored (RFC 9112 §7.1.1).
  std::string_view text(line);
  if (auto semi = text.find(';'); semi != std::string_view::npos) text = text.substr(0, semi);
  text = trim_ows(text);
  uint64_t n = 0;
  // 15 hex digits is already 2^60 bytes; more only serves to overflow a counter.
  if (text.empty() || text.size() > 15) {
    fail("invalid chunk size");
    return;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n, 16);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    fail("invalid chunk size");
    return;
  }
  if (n == 0) {
    state_ = State::kTrailers;
  } else {
    remaining_ = n;
    state_ = State::kChunkData;
  }
}

}  // namespace hop::trace
