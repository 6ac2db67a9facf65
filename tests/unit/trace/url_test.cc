#include "trace/url.h"

#include <gtest/gtest.h>

namespace hop::trace {
namespace {

Url parse_ok(std::string_view text) {
  std::string error;
  auto url = parse_url(text, error);
  EXPECT_TRUE(url.has_value()) << text << ": " << error;
  return url.value_or(Url{});
}

std::string parse_error(std::string_view text) {
  std::string error;
  EXPECT_FALSE(parse_url(text, error).has_value()) << text;
  return error;
}

TEST(Url, HttpsDefaultsPortAndPath) {
  Url u = parse_ok("https://example.com");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.authority(), "example.com");
}

TEST(Url, ExplicitPortAppearsInAuthority) {
  Url u = parse_ok("http://127.0.0.1:8080/a/b?x=1");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.target, "/a/b?x=1");
  EXPECT_EQ(u.authority(), "127.0.0.1:8080");
}

TEST(Url, SchemeIsCaseInsensitive) { EXPECT_TRUE(parse_ok("HTTPS://h/").tls); }

TEST(Url, Ipv6LiteralLosesBracketsInHostKeepsThemInAuthority) {
  Url u = parse_ok("http://[::1]:9000/x");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.authority(), "[::1]:9000");
}

TEST(Url, QueryWithoutPathGetsSlash) { EXPECT_EQ(parse_ok("http://h?q=1").target, "/?q=1"); }

TEST(Url, FragmentIsNotSent) { EXPECT_EQ(parse_ok("http://h/p#frag").target, "/p"); }

TEST(Url, RejectsMissingScheme) { EXPECT_NE(parse_error("example.com/").find("scheme"), std::string::npos); }

TEST(Url, RejectsOtherSchemes) { EXPECT_NE(parse_error("ftp://h/").find("ftp"), std::string::npos); }

TEST(Url, RejectsBadPorts) {
  parse_error("http://h:0/");
  parse_error("http://h:65536/");
  parse_error("http://h:12ab/");
}

TEST(Url, EmptyPortMeansTheDefault) { EXPECT_EQ(parse_ok("http://h:/").port, 80); }  // RFC 3986 §3.2.3

TEST(Url, RejectsEmptyHost) { parse_error("http:///path"); }

TEST(Url, RejectsUnterminatedIpv6) { parse_error("http://[::1/"); }

TEST(Url, RejectsCredentials) { parse_error("http://user:pw@h/"); }

TEST(Url, RejectsControlCharactersThatWouldSplitTheRequest) {
  parse_error("http://h/a\r\nX-Injected: 1");
  parse_error("http://h/a b");
}

}  // namespace
}  // namespace hop::trace
