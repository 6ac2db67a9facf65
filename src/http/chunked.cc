#include "http/chunked.h"

#include "http/h1_parser.h"

namespace hop::http {

namespace {
constexpr size_t kMaxExtensionBytes = 1024;
}  // namespace

ChunkedDecoder::Result ChunkedDecoder::fail(size_t consumed, const char* why) {
  state_ = State::kError;
  error_ = why;
  return {Status::kError, consumed, {}};
}

ChunkedDecoder::Result ChunkedDecoder::decode(std::string_view in) {
  size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    switch (state_) {
      case State::kSize: {
        int h = hex_digit_value(c);
        if (h >= 0) {
          // 15 hex digits is 2^60 bytes: longer sizes are overflow attempts.
          if (++size_digits_ > 15) return fail(i, "chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
          ++i;
          break;
        }
        if (size_digits_ == 0) return fail(i, "invalid chunk size");
        if (c == ';') { state_ = State::kExt; ext_bytes_ = 0; ++i; break; }
        if (c == '\r') { state_ = State::kSizeLf; ++i; break; }
        return fail(i, "invalid chunk size");
      }
      case State::kExt:
        // Extensions are ignored but must not hide CR/LF/controls (request smuggling via
        // parsers that end the line at a bare LF inside an extension).
        if (c == '\r') { state_ = State::kSizeLf; ++i; break; }
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return fail(i, "control character in chunk extension");
        if (++ext_bytes_ > kMaxExtensionBytes) return fail(i, "chunk extension too long");
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return fail(i, "bare CR after chunk size");
        ++i;
        size_digits_ = 0;
        if (remaining_ == 0) { state_ = State::kTrailerStart; trailer_bytes_ = 0; }
        else state_ = State::kData;
        break;
      case State::kData: {
        size_t n = in.size() - i;
        if (n > remaining_) n = static_cast<size_t>(remaining_);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDataCr;
        return {Status::kData, i + n, in.substr(i, n)};
      }
      case State::kDataCr:
        if (c != '\r') return fail(i, "missing CRLF after chunk data");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return fail(i, "missing CRLF after chunk data");
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailerStart:
        if (c == '\r') { state_ = State::kFinalLf; ++i; break; }
        state_ = State::kTrailerLine;
        [[fallthrough]];
      case State::kTrailerLine:
        if (++trailer_bytes_ > max_trailer_bytes_) return fail(i, "trailer section too large");
        if (c == '\r') { state_ = State::kTrailerLf; ++i; break; }
        if (c == '\n') return fail(i, "bare LF in trailer");
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return fail(i, "control character in trailer");
        if (keep_trailers_) {
          if (!trailers_) trailers_ = std::make_unique<std::string>();
          trailers_->push_back(c);
        }
        ++i;
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail(i, "bare CR in trailer");
        if (++trailer_bytes_ > max_trailer_bytes_) return fail(i, "trailer section too large");
        if (keep_trailers_) trailers_->append("\r\n");  // the line's first byte made it
        state_ = State::kTrailerStart;
        ++i;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail(i, "bare CR after last chunk");
        state_ = State::kDone;
        return {Status::kDone, i + 1, {}};
      case State::kDone:
        return {Status::kDone, i, {}};
      case State::kError:
        return {Status::kError, i, {}};
    }
  }
  if (state_ == State::kDone) return {Status::kDone, i, {}};
  if (state_ == State::kError) return {Status::kError, i, {}};
  return {Status::kNeedMore, i, {}};
}

size_t chunk_header(uint64_t n, char* out) {
  static const char kHex[] = "0123456789abcdef";
  char tmp[16];
  int len = 0;
  do {
    tmp[len++] = kHex[n & 0xf];
    n >>= 4;
  } while (n);
  size_t w = 0;
  while (len) out[w++] = tmp[--len];
  out[w++] = '\r';
  out[w++] = '\n';
  return w;
}

}  // namespace hop::http
