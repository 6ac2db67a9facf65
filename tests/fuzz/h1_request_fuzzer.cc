// libFuzzer target for the HTTP/1.1 request and response head parsers, the chunked decoder
// and path normalization: any bytes must yield incomplete, a head whose views lie inside
// the input, or an error status — never a crash, a read past the end, or a loop. A
// normalized path starts with '/', has no empty, "." or ".." segment, and is normal.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/h1_parser.h"
#include "http/path_normalize.h"

using namespace hop::http;

namespace {
bool inside(std::string_view v, const char* base, size_t len) {
  return v.empty() || (v.data() >= base && v.data() + v.size() <= base + len);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  H1Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_request_line = 1024;
  limits.max_headers = 32;

  RequestHead req;
  ParseError err;
  ParseResult r = parse_request(p, size, limits, req, err);
  if (r == ParseResult::kOk) {
    if (req.head_bytes > size) __builtin_trap();
    if (!inside(req.method, p, size) || !inside(req.target, p, size) || !inside(req.host, p, size)) __builtin_trap();
    for (const auto& h : req.headers)
      if (!inside(h.name, p, size) || !inside(h.value, p, size)) __builtin_trap();
    if (req.framing == BodyFraming::kChunked && req.content_length != 0) __builtin_trap();
  } else if (r == ParseResult::kError) {
    if (err.status < 400 || err.status > 505) __builtin_trap();
  }

  ResponseHead resp;
  if (parse_response(p, size, limits, (size & 1) != 0, resp, err) == ParseResult::kOk) {
    if (resp.head_bytes > size || resp.status < 100 || resp.status > 999) __builtin_trap();
  }

  // The same bytes as a path (with a leading '/').
  {
    std::string path = "/";
    path.append(p, size < 512 ? size : 512);
    std::string out, scratch, again, scratch2;
    auto n = normalize_path(path, out, scratch);
    if (n == PathNormalization::kChanged) {
      if (out.empty() || out[0] != '/') __builtin_trap();
      if (out.find("//") != std::string::npos || out.find("/./") != std::string::npos ||
          out.find("/../") != std::string::npos)
        __builtin_trap();
      if (normalize_path(out, again, scratch2) != PathNormalization::kUnchanged) __builtin_trap();
    }
  }

  // The same bytes as a chunked body, fed in two pieces.
  ChunkedDecoder d(512);
  std::string_view in(p, size);
  size_t split = size / 2;
  for (std::string_view piece : {in.substr(0, split), in.substr(split)}) {
    while (!piece.empty()) {
      auto c = d.decode(piece);
      if (c.consumed > piece.size()) __builtin_trap();
      if (c.status == ChunkedDecoder::Status::kData && !inside(c.data, piece.data(), piece.size())) __builtin_trap();
      piece.remove_prefix(c.consumed);
      if (c.status != ChunkedDecoder::Status::kData) break;
    }
  }
  return 0;
}
