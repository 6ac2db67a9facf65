#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "http/h1_parser.h"

using namespace hop::http;

namespace {
struct Parsed {
  std::string bytes;  // the head's views point here
  ParseResult r;
  RequestHead head;
  ParseError err;
};
Parsed req(const std::string& s, H1Limits limits = {}) {
  Parsed p;
  p.bytes = s;
  p.r = parse_request(p.bytes.data(), p.bytes.size(), limits, p.head, p.err);
  return p;
}
int rejects(const std::string& s, H1Limits limits = {}) {
  auto p = req(s, limits);
  return p.r == ParseResult::kError ? p.err.status : 0;
}
}  // namespace

TEST(H1Parser, ParsesSimpleGet) {
  const auto& p = req("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\n\r\nrest");
  ASSERT_EQ(p.r, ParseResult::kOk);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.target, "/a?b=1");
  EXPECT_EQ(p.head.path, "/a");
  EXPECT_EQ(p.head.host, "example.com");
  EXPECT_EQ(p.head.headers.get("x-a"), "v");
  EXPECT_EQ(p.head.framing, BodyFraming::kNone);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_EQ(p.head.head_bytes, std::string("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\n\r\n").size());
}

TEST(H1Parser, ReportsIncompleteUntilTheBlankLine) {
  EXPECT_EQ(req("GET / HTTP/1.1\r\nHost: x\r\n").r, ParseResult::kIncomplete);
  EXPECT_EQ(req("GET / HTT").r, ParseResult::kIncomplete);
}

TEST(H1Parser, RejectsContentLengthWithTransferEncoding) {
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(H1Parser, RejectsDifferingContentLengths) {
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"), 400);
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n"), 400);
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n"), 400);
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
}

TEST(H1Parser, AcceptsRepeatedIdenticalContentLength) {
  auto p = req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kOk);
  EXPECT_EQ(p.head.content_length, 3u);
}

TEST(H1Parser, RejectsBareLfAndBareCr) {
  EXPECT_EQ(rejects("GET / HTTP/1.1\nHost: x\n\n"), 400);
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"), 400);
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"), 400);
}

TEST(H1Parser, RejectsObsFold) { EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"), 400); }

TEST(H1Parser, RejectsControlCharactersAndNul) {
  EXPECT_EQ(rejects(std::string("GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 35)), 400);
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n"), 400);
  EXPECT_EQ(rejects("GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
}

// Values are checked 16 bytes at a time where the buffer allows: a bad byte must be found
// at every offset, before, across and after a 16-byte block, whatever follows the head.
TEST(H1Parser, ChecksEveryByteOfLongValuesWhereverTheBlocksFall) {
  for (size_t at = 0; at < 40; ++at) {
    for (size_t tail : {size_t{0}, size_t{64}}) {
      auto head = [&](char c) {
        std::string v(40, 'a');
        v[at] = c;
        return "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + v + "\r\n\r\n" + std::string(tail, 'b');
      };
      for (char bad : {'\0', '\x01', '\x1f', '\x7f', '\n'})
        EXPECT_EQ(rejects(head(bad)), 400) << "byte " << int(bad) << " at " << at << " tail " << tail;
      EXPECT_EQ(rejects(head('\r')), 400) << "bare CR at " << at;
      for (char good : {'\t', ' ', '~', '\x80', '\xff'}) {
        auto p = req(head(good));
        ASSERT_EQ(p.r, ParseResult::kOk) << "byte " << int(static_cast<unsigned char>(good)) << " at " << at;
        std::string want(40, 'a');
        want[at] = good;
        // OWS at either end of a value is not part of it (RFC 9110 §5.5).
        size_t b = want.find_first_not_of(" \t"), e = want.find_last_not_of(" \t");
        EXPECT_EQ(p.head.headers.get("x-long"), want.substr(b, e - b + 1));
      }
    }
  }
}

TEST(H1Parser, NamesTheFaultInAFieldLine) {
  auto reason = [](const std::string& s) {
    auto p = req(s);
    return p.r == ParseResult::kError ? std::string(p.err.reason) : std::string("accepted");
  };
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\n b\r\n\r\n"), "obsolete line folding");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\nX\t: b\r\n\r\n"), "whitespace before colon in header field");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\nX\ry: b\r\n\r\n"), "bare CR in header field");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\nX: b\rc\r\n\r\n"), "bare CR in header field");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\nX(: b\r\n\r\n"), "invalid header field name");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n"), "invalid header field name");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), "invalid header field name");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n"), "control character in header field value");
  EXPECT_EQ(reason("GET / HTTP/1.1\r\nHost: x\r\nX:\r\n\r\n"), "accepted");  // empty value
}

TEST(H1Parser, RejectsWhitespaceBeforeColon) { EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400); }

TEST(H1Parser, RejectsMissingOrDuplicateHost) {
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(req("GET / HTTP/1.0\r\n\r\n").r, ParseResult::kOk);
}

TEST(H1Parser, RejectsTransferEncodingOtherThanFinalChunked) {
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
  EXPECT_EQ(rejects("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(rejects("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(H1Parser, LimitsRequestLineAndHead) {
  H1Limits l;
  l.max_request_line = 64;
  l.max_head_bytes = 256;
  l.max_headers = 3;
  EXPECT_EQ(rejects("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", l), 414);
  EXPECT_EQ(rejects("GET /" + std::string(100, 'a'), l), 414);  // before the line ends
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(300, 'a') + "\r\n\r\n", l), 431);
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", l), 431);
}

TEST(H1Parser, RejectsUnknownVersionsWith505) {
  EXPECT_EQ(rejects("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
  EXPECT_EQ(rejects("GET / HTTP/1.1x\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(rejects("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
}

TEST(H1Parser, UnderstandsKeepAliveAndExpect) {
  EXPECT_FALSE(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(req("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(req("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").head.expect_continue);
  EXPECT_EQ(rejects("GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n"), 417);
}

TEST(H1Parser, SkipsLeadingEmptyLines) {
  auto p = req("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kOk);
  EXPECT_EQ(p.head.head_bytes, 2u + std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n").size());
}

namespace {
ParseResult resp(const std::string& s, ResponseHead& h, bool head_req = false) {
  ParseError e;
  return parse_response(s.data(), s.size(), H1Limits{}, head_req, h, e);
}
}  // namespace

TEST(H1ResponseParser, FramesByStatusAndHeaders) {
  ResponseHead h;
  ASSERT_EQ(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", h), ParseResult::kOk);
  EXPECT_EQ(h.framing, BodyFraming::kContentLength);
  ASSERT_EQ(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", h), ParseResult::kOk);
  EXPECT_EQ(h.framing, BodyFraming::kChunked);
  ASSERT_EQ(resp("HTTP/1.1 200 OK\r\n\r\n", h), ParseResult::kOk);
  EXPECT_EQ(h.framing, BodyFraming::kUntilClose);
  ASSERT_EQ(resp("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", h), ParseResult::kOk);
  EXPECT_EQ(h.framing, BodyFraming::kNone);
  ASSERT_EQ(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", h, true), ParseResult::kOk);
  EXPECT_EQ(h.framing, BodyFraming::kNone);
  ASSERT_EQ(resp("HTTP/1.1 304 Not Modified\r\n\r\n", h), ParseResult::kOk);
  EXPECT_EQ(h.framing, BodyFraming::kNone);
  ASSERT_EQ(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", h), ParseResult::kOk);
  EXPECT_EQ(h.status, 200);
}

TEST(H1ResponseParser, MalformedUpstreamResponsesAre502) {
  ResponseHead h;
  ParseError e;
  for (std::string bad : {"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "FOO 200 OK\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "HTTP/1.1 200 OK\nContent-Length: 1\n\n", "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n"}) {
    EXPECT_EQ(parse_response(bad.data(), bad.size(), H1Limits{}, false, h, e), ParseResult::kError) << bad;
    EXPECT_EQ(e.status, 502) << bad;
  }
}

TEST(H1Helpers, ListContainsIsCaseInsensitiveAndTrimmed) {
  EXPECT_TRUE(list_contains("keep-alive, Close", "close"));
  EXPECT_FALSE(list_contains("closed", "close"));
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("abc", "abcd"));
  // Only letters fold: bytes 0x20 apart that are not letters stay different.
  EXPECT_FALSE(iequals("\r", "-"));
  EXPECT_FALSE(iequals("\x10", "0"));
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("\xc1", "\xe1"));
  for (int c = 0; c < 256; ++c)
    for (int d = 0; d < 256; ++d) {
      bool want = c == d || (std::tolower(c) == std::tolower(d) && std::isalpha(c) && std::isalpha(d) && c < 128 && d < 128);
      std::string a(1, static_cast<char>(c)), b(1, static_cast<char>(d));
      ASSERT_EQ(iequals(a, b), want) << c << " " << d;
    }
}
