#include "trace/h1_response_reader.h"

#include <gtest/gtest.h>

namespace hop::trace {
namespace {

// Feeds in pieces of `step` bytes, as a slow network would deliver them.
H1ResponseReader read_all(std::string_view wire, size_t step = 1 << 20, bool head = false) {
  H1ResponseReader r(head);
  while (!wire.empty() && !r.done() && !r.failed()) {
    size_t used = r.feed(wire.substr(0, std::min(step, wire.size())));
    wire.remove_prefix(used);
    if (used == 0) break;
  }
  return r;
}

TEST(H1ResponseReader, ContentLengthBody) {
  auto r = read_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer-Timing: a;dur=1\r\n\r\nhello");
  ASSERT_TRUE(r.done()) << r.error();
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.reason(), "OK");
  EXPECT_EQ(r.body_bytes(), 5u);
  EXPECT_TRUE(r.keep_alive());
  EXPECT_EQ(r.header("SERVER-TIMING"), "a;dur=1");
}

TEST(H1ResponseReader, ByteAtATimeGivesTheSameResult) {
  auto r = read_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 1);
  ASSERT_TRUE(r.done()) << r.error();
  EXPECT_EQ(r.body_bytes(), 5u);
}

TEST(H1ResponseReader, ChunkedWithExtensionsAndTrailers) {
  auto r = read_all(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "a;ext=1\r\n0123456789\r\n3\r\nabc\r\n0\r\nServer-Timing: t;dur=2\r\n\r\n");
  ASSERT_TRUE(r.done()) << r.error();
  EXPECT_EQ(r.body_bytes(), 13u);
  EXPECT_EQ(r.header("server-timing"), "t;dur=2");
}

TEST(H1ResponseReader, StopsAtEndOfMessage) {
  std::string wire = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n";
  H1ResponseReader r;
  size_t used = r.feed(wire);
  EXPECT_TRUE(r.done());
  EXPECT_EQ(used, wire.find("HTTP/1.1 200"));
}

TEST(H1ResponseReader, CloseDelimitedBodyEndsAtEof) {
  H1ResponseReader r;
  r.feed("HTTP/1.1 200 OK\r\n\r\nsome bytes");
  EXPECT_FALSE(r.done());
  r.on_eof();
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.body_bytes(), 10u);
  EXPECT_FALSE(r.keep_alive());
}

TEST(H1ResponseReader, EofInsideContentLengthBodyIsAnError) {
  H1ResponseReader r;
  r.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  r.on_eof();
  EXPECT_TRUE(r.failed());
}

TEST(H1ResponseReader, EofBeforeHeadIsAnError) {
  H1ResponseReader r;
  r.feed("HTTP/1.1 200 OK\r\n");
  r.on_eof();
  EXPECT_TRUE(r.failed());
  EXPECT_FALSE(r.headers_complete());
}

TEST(H1ResponseReader, InterimResponsesAreSkipped) {
  auto r = read_all("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.status(), 201);
}

TEST(H1ResponseReader, HeadResponseHasNoBodyWhateverContentLengthSays) {
  auto r = read_all("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 1 << 20, true);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.body_bytes(), 0u);
}

TEST(H1ResponseReader, NotModifiedHasNoBody) {
  EXPECT_TRUE(read_all("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").done());
}

TEST(H1ResponseReader, ConnectionCloseEndsKeepAlive) {
  auto r = read_all("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r.done());
  EXPECT_FALSE(r.keep_alive());
}

TEST(H1ResponseReader, Http10KeepsAliveOnlyWhenAsked) {
  EXPECT_FALSE(read_all("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive());
  EXPECT_TRUE(read_all("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive());
}

TEST(H1ResponseReader, AcceptsBareLf) {
  EXPECT_TRUE(read_all("HTTP/1.1 200 OK\nContent-Length: 0\n\n").done());
}

TEST(H1ResponseReader, RejectsContentLengthWithTransferEncoding) {
  auto r = read_all("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(r.failed());
}

TEST(H1ResponseReader, RejectsConflictingContentLengths) {
  EXPECT_TRUE(read_all("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n").failed());
}

TEST(H1ResponseReader, RejectsInvalidContentLength) {
  EXPECT_TRUE(read_all("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").failed());
  EXPECT_TRUE(read_all("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n").failed());
}

TEST(H1ResponseReader, RejectsBadChunkSizes) {
  const char* head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_TRUE(read_all(std::string(head) + "0x5\r\n").failed());
  EXPECT_TRUE(read_all(std::string(head) + "zz\r\n").failed());
  EXPECT_TRUE(read_all(std::string(head) + "1000000000000000\r\n").failed());
  EXPECT_TRUE(read_all(std::string(head) + "3\r\nabcX\r\n").failed());
}

TEST(H1ResponseReader, RejectsMalformedStatusLines) {
  EXPECT_TRUE(read_all("HTTP/2.0 200 OK\r\n\r\n").failed());
  EXPECT_TRUE(read_all("HTTP/1.1 2x0 OK\r\n\r\n").failed());
  EXPECT_TRUE(read_all("ICY 200 OK\r\n\r\n").failed());
  EXPECT_TRUE(read_all("HTTP/1.1 099 Low\r\n\r\n").failed());
}

TEST(H1ResponseReader, StatusLineWithoutReason) {
  auto r = read_all("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r.done()) << r.error();
  EXPECT_EQ(r.reason(), "");
}

TEST(H1ResponseReader, RejectsObsFoldAndSpaceBeforeColon) {
  EXPECT_TRUE(read_all("HTTP/1.1 200 OK\r\nA: b\r\n  folded\r\n\r\n").failed());
  EXPECT_TRUE(read_all("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n").failed());
}

TEST(H1ResponseReader, RejectsBareCr) {
  EXPECT_TRUE(read_all("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n").failed());
}

TEST(H1ResponseReader, BoundsLineLength) {
  std::string wire = "HTTP/1.1 200 OK\r\nX: ";
  wire.append(10000, 'a').append("\r\n\r\n");
  auto r = read_all(wire, 100);
  EXPECT_TRUE(r.failed());
  EXPECT_NE(r.error().find("longer"), std::string::npos);
}

TEST(H1ResponseReader, BoundsHeaderCount) {
  std::string wire = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 200; ++i) wire.append("X").append(std::to_string(i)).append(": v\r\n");
  wire += "\r\n";
  EXPECT_TRUE(read_all(wire).failed());
}

TEST(H1ResponseReader, BoundsTotalHeadSize) {
  std::string wire = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 100; ++i)
    wire.append("X").append(std::to_string(i)).append(": ").append(1000, 'v').append("\r\n");
  wire += "\r\n";
  EXPECT_TRUE(read_all(wire).failed());
}

TEST(H1ResponseReader, NonChunkedTransferEncodingReadsUntilClose) {
  H1ResponseReader r;
  r.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz");
  r.on_eof();
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.body_bytes(), 3u);
  EXPECT_FALSE(r.keep_alive());
}

TEST(H1ResponseReader, RepeatedHeadersJoinWithComma) {
  auto r = read_all("HTTP/1.1 200 OK\r\nServer-Timing: a\r\nServer-Timing: b\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.header("server-timing"), "a, b");
}

}  // namespace
}  // namespace hop::trace

namespace hop::trace {
namespace {

TEST(H1ResponseReader, BodySinkGetsDechunkedBytes) {
  H1ResponseReader r;
  std::string body;
  r.set_body_sink([&](std::string_view d) { body.append(d); });
  r.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n");
  ASSERT_TRUE(r.done());
  EXPECT_EQ(body, "hello!");
}

}  // namespace
}  // namespace hop::trace
