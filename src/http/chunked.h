// Incremental decoder for the chunked transfer coding (RFC 9112 §7.1), strict: hex sizes
// without prefixes or overflow, CRLF exactly where required, bounded extensions and
// trailers. The proxy re-encodes what it decodes, so chunk boundaries and extensions of
// one side never reach the other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace hop::http {

class ChunkedDecoder {
 public:
  enum class Status : uint8_t { kNeedMore, kData, kDone, kError };

  struct Result {
    Status status;
    size_t consumed;        // input bytes used
    std::string_view data;  // kData: payload bytes (a view into the input)
  };

  // keep_trailers: keep the trailer section for trailer_block() (a response to forward);
  // otherwise it is checked and skipped (request bodies: hop forwards no request trailers).
  explicit ChunkedDecoder(size_t max_trailer_bytes = 8 * 1024, bool keep_trailers = false)
      : max_trailer_bytes_(max_trailer_bytes), keep_trailers_(keep_trailers) {}
  // Ready for the next body; kept trailers are freed, not just emptied.
  void reset() { *this = ChunkedDecoder(max_trailer_bytes_, keep_trailers_); }

  // Decodes from in; returns at the first payload span, at the end, on error or when in is
  // used up. Call again with the rest of the input.
  Result decode(std::string_view in);
  bool done() const { return state_ == State::kDone; }
  std::string_view error() const { return error_; }
  // Bytes of the chunk currently being read that have not arrived yet.
  uint64_t remaining_in_chunk() const { return remaining_; }
  // The trailer section as received ("name: value\r\n" lines, without the final CRLF),
  // once done(), when keeping trailers; at most max_trailer_bytes. Validate before use:
  // see trailers.h. forget_trailers() frees it once forwarded (a keep-alive connection
  // does not hold it while idle).
  std::string_view trailer_block() const { return trailers_ ? std::string_view(*trailers_) : std::string_view(); }
  void forget_trailers() { trailers_.reset(); }

 private:
  enum class State : uint8_t {
    kSize, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailerStart, kTrailerLine, kTrailerLf, kFinalLf, kDone, kError
  };
  Result fail(size_t consumed, const char* why);

  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  int size_digits_ = 0;
  size_t ext_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  size_t max_trailer_bytes_;
  const char* error_ = "";
  bool keep_trailers_;
  // Allocated only by a kept body that has trailers: a pointer, not a string, because
  // every connection holds two decoders and almost no body has trailers.
  std::unique_ptr<std::string> trailers_;
};

// Writes the chunk-size line for n payload bytes into out (at least 20 bytes); returns its length.
size_t chunk_header(uint64_t n, char* out);

}  // namespace hop::http
