#include <gtest/gtest.h>

#include <regex>

#include "trace/dns_resolver.h"
#include "trace/traceparent.h"

namespace hop::trace {
namespace {

TEST(ResolveOverride, ParsesHostPortAddress) {
  ResolveOverride o;
  std::string error;
  ASSERT_TRUE(parse_resolve_override("example.com:443:127.0.0.1", o, error)) << error;
  EXPECT_EQ(o.host, "example.com");
  EXPECT_EQ(o.port, 443);
  EXPECT_EQ(o.address, "127.0.0.1");
}

TEST(ResolveOverride, AcceptsBracketedIpv6) {
  ResolveOverride o;
  std::string error;
  ASSERT_TRUE(parse_resolve_override("h:80:[::1]", o, error)) << error;
  EXPECT_EQ(o.address, "::1");
}

TEST(ResolveOverride, RejectsNamesAndBadPorts) {
  ResolveOverride o;
  std::string error;
  EXPECT_FALSE(parse_resolve_override("h:80:other.host", o, error));
  EXPECT_FALSE(parse_resolve_override("h:0:127.0.0.1", o, error));
  EXPECT_FALSE(parse_resolve_override("h:http:127.0.0.1", o, error));
  EXPECT_FALSE(parse_resolve_override("h:80", o, error));
}

TEST(DnsResolver, LiteralNeedsNoLookup) {
  DnsResolver r({});
  auto res = r.resolve("127.0.0.1", 80, core::Clock::now() + std::chrono::seconds(1));
  ASSERT_TRUE(res.ok);
  EXPECT_EQ(res.info.source, "literal");
  EXPECT_EQ(res.addresses.at(0).to_string(), "127.0.0.1:80");
}

TEST(DnsResolver, OverrideMatchesHostAndPortOnly) {
  DnsResolver::Options o;
  o.overrides.push_back({"app.example", 8443, "127.0.0.2"});
  DnsResolver r(o);
  auto deadline = core::Clock::now() + std::chrono::seconds(1);
  auto hit = r.resolve("app.example", 8443, deadline);
  ASSERT_TRUE(hit.ok);
  EXPECT_EQ(hit.info.source, "--resolve");
  EXPECT_EQ(hit.addresses.at(0).to_string(), "127.0.0.2:8443");
}

TEST(DnsResolver, UnusableServerListIsAnErrorNotACrash) {
  DnsResolver::Options o;
  o.servers = "not an address";
  DnsResolver r(o);
  auto res = r.resolve("app.example", 80, core::Clock::now() + std::chrono::seconds(1));
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.error.find("--dns-server"), std::string::npos) << res.error;
}

TEST(Traceparent, VersionZeroFormatSampled) {
  TraceparentSource source;
  std::string tp = source.next();
  EXPECT_TRUE(std::regex_match(tp, std::regex("00-[0-9a-f]{32}-[0-9a-f]{16}-01"))) << tp;
}

TEST(Traceparent, OneTraceIdPerRunNewParentIdPerRequest) {
  TraceparentSource source;
  std::string a = source.next(), b = source.next();
  EXPECT_EQ(a.substr(3, 32), b.substr(3, 32));
  EXPECT_NE(a.substr(36, 16), b.substr(36, 16));
  EXPECT_EQ(a.substr(3, 32), source.trace_id());
}

TEST(Traceparent, IdsAreNeverAllZero) {
  for (int i = 0; i < 100; ++i) EXPECT_NE(random_hex_id(8), std::string(16, '0'));
}

}  // namespace
}  // namespace hop::trace
