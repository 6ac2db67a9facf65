#include <gtest/gtest.h>

#include <string>

#include "http/chunked.h"
#include "http/trailers.h"

using hop::http::ChunkedDecoder;
using hop::http::forwardable_trailers;
using hop::http::Trailers;

namespace {
// The trailer block a decoder keeps for `body`, fed `step` bytes at a time.
std::string block_of(const std::string& body, size_t step, bool keep = true) {
  ChunkedDecoder d(8 * 1024, keep);
  for (size_t pos = 0; pos < body.size() && !d.done();) {
    std::string_view piece(body.data() + pos, std::min(step, body.size() - pos));
    auto r = d.decode(piece);
    pos += r.consumed;
    if (r.status == ChunkedDecoder::Status::kError) return "ERR";
  }
  return d.done() ? std::string(d.trailer_block()) : "INCOMPLETE";
}
}  // namespace

TEST(Trailers, TheDecoderKeepsTheTrailerSectionWhateverTheSplits) {
  std::string body = "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=5\r\n\r\n";
  for (size_t step = 1; step < 9; ++step)
    EXPECT_EQ(block_of(body, step), "X-Checksum: abc\r\nServer-Timing: db;dur=5\r\n") << step;
  EXPECT_EQ(block_of("0\r\n\r\n", 1), "");
  EXPECT_EQ(block_of(body, 3, /*keep=*/false), "");  // request bodies: checked, not kept
}

TEST(Trailers, ResetAndForgetFreeTheKeptSection) {
  ChunkedDecoder d(8 * 1024, true);
  std::string body = "0\r\n" + std::string(4000, 'x').insert(0, "X-Big: ") + "\r\n\r\n";
  ASSERT_EQ(d.decode(body).status, ChunkedDecoder::Status::kDone);
  EXPECT_EQ(d.trailer_block().size(), 4009u);
  d.forget_trailers();
  EXPECT_TRUE(d.trailer_block().empty());
  d.reset();
  ASSERT_EQ(d.decode("0\r\nA: 1\r\n\r\n").status, ChunkedDecoder::Status::kDone);
  EXPECT_EQ(d.trailer_block(), "A: 1\r\n");  // still keeping after a reset
}

TEST(Trailers, TheLimitCountsWholeLines) {
  ChunkedDecoder d(10, true);
  EXPECT_EQ(d.decode("0\r\nAB: 12345\r\n\r\n").status, ChunkedDecoder::Status::kError);  // 11 bytes with CRLF
  ChunkedDecoder ok(11, true);
  EXPECT_EQ(ok.decode("0\r\nAB: 12345\r\n\r\n").status, ChunkedDecoder::Status::kDone);
}

TEST(Trailers, FramingRoutingAndConnectionFieldsAreDropped) {
  Trailers t = forwardable_trailers(
      "X-Checksum: abc\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: evil\r\nConnection: close\r\n"
      "Trailer: X\r\nTE: trailers\r\nGrpc-Status:  0 \r\n",
      false);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], (std::pair<std::string, std::string>{"X-Checksum", "abc"}));
  EXPECT_EQ(t[1], (std::pair<std::string, std::string>{"Grpc-Status", "0"}));
  Trailers h2 = forwardable_trailers("Grpc-Status: 0\r\n", true);
  ASSERT_EQ(h2.size(), 1u);
  EXPECT_EQ(h2[0].first, "grpc-status");  // HTTP/2 field names are lowercase
}

TEST(Trailers, AMalformedSectionYieldsNone) {
  EXPECT_TRUE(forwardable_trailers("", false).empty());
  EXPECT_TRUE(forwardable_trailers("X: 1\r\nBad Name: 2\r\n", false).empty());
  EXPECT_TRUE(forwardable_trailers("X: 1\r\n folded\r\n", false).empty());
  EXPECT_TRUE(forwardable_trailers("X: a\x01" "b\r\n", false).empty());
  EXPECT_TRUE(forwardable_trailers("X: 1\nY: 2\r\n", false).empty());   // bare LF
  EXPECT_TRUE(forwardable_trailers("X: 1\r\nY: 2", false).empty());     // no final CRLF
  EXPECT_TRUE(forwardable_trailers("X: 1\rY: 2\r\n", false).empty());   // bare CR
  std::string many;
  for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_TRUE(forwardable_trailers(many, false).empty());  // more than max_headers (100)
}
