#include <gtest/gtest.h>

#include <string>

#include "http/chunked.h"

using hop::http::ChunkedDecoder;

namespace {
// Feeds `in` in pieces of `step` bytes; returns the payload or "ERR".
std::string decode_all(const std::string& in, size_t step = 1000000) {
  ChunkedDecoder d;
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t end = std::min(in.size(), pos + step);
    std::string_view piece(in.data() + pos, end - pos);
    while (!piece.empty()) {
      auto r = d.decode(piece);
      piece.remove_prefix(r.consumed);
      pos += r.consumed;
      if (r.status == ChunkedDecoder::Status::kError) return "ERR";
      if (r.status == ChunkedDecoder::Status::kData) out.append(r.data);
      if (r.status == ChunkedDecoder::Status::kDone) return d.done() ? out : "ERR";
      if (r.status == ChunkedDecoder::Status::kNeedMore) break;
    }
  }
  return d.done() ? out : "INCOMPLETE";
}
}  // namespace

TEST(Chunked, DecodesChunksExtensionsAndTrailers) {
  EXPECT_EQ(decode_all("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n"), "hello world");
  EXPECT_EQ(decode_all("A\r\n0123456789\r\n0\r\n\r\n"), "0123456789");
}

TEST(Chunked, DecodesAcrossArbitrarySplits) {
  std::string msg = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
  for (size_t step = 1; step < 8; ++step) EXPECT_EQ(decode_all(msg, step), "hello world") << step;
}

TEST(Chunked, RejectsInvalidChunkSizes) {
  EXPECT_EQ(decode_all("0x5\r\nhello\r\n0\r\n\r\n"), "ERR");
  EXPECT_EQ(decode_all("-5\r\nhello\r\n0\r\n\r\n"), "ERR");
  EXPECT_EQ(decode_all(" 5\r\nhello\r\n0\r\n\r\n"), "ERR");
  EXPECT_EQ(decode_all("1000000000000000\r\n"), "ERR");  // 16 hex digits: overflow attempt
}

TEST(Chunked, RejectsBareLfAndMissingCrlf) {
  EXPECT_EQ(decode_all("5\nhello\r\n0\r\n\r\n"), "ERR");
  EXPECT_EQ(decode_all("5\r\nhelloX\r\n0\r\n\r\n"), "ERR");
  EXPECT_EQ(decode_all("5;a\nb\r\nhello\r\n0\r\n\r\n"), "ERR");
  EXPECT_EQ(decode_all("5\r\nhello\r\n0\r\n\n"), "ERR");
}

TEST(Chunked, BoundsTrailers) {
  std::string big = "0\r\nX: " + std::string(10000, 'a') + "\r\n\r\n";
  EXPECT_EQ(decode_all(big), "ERR");
}

TEST(Chunked, WritesChunkHeaders) {
  char buf[24];
  EXPECT_EQ(std::string(buf, hop::http::chunk_header(255, buf)), "ff\r\n");
  EXPECT_EQ(std::string(buf, hop::http::chunk_header(0, buf)), "0\r\n");
}
