// c-ares on a test loop, resolving against a hop DNS server on another thread.
#include <gtest/gtest.h>

#include "dns/upstream_resolver.h"
#include "dns_test_util.h"

using namespace hop;
using namespace hop::dns;
using namespace hop::dns::testing;
using namespace std::chrono_literals;

namespace {

const char* kZone = R"(
zones:
  - origin: up.test.
    records:
      - {name: svc, type: A, ttl: 1, values: [10.0.0.1, 10.0.0.2]}
)";

std::shared_ptr<const DnsConfig> zone_with(const std::string& records) {
  config::ConfigErrors errs("t");
  return parse_dns_config(YAML::Load("{listen: [127.0.0.1:0], zones: [{origin: up.test., records: [" + records + "]}]}"),
                          ".", errs);
}

bool run_until(core::EventLoop& loop, const std::function<bool()>& pred, core::Millis limit) {
  bool met = false;
  core::Timer deadline(loop, [&] { loop.stop(); });
  std::function<void()> again;
  core::Timer tick(loop, [&] {
    if (pred()) {
      met = true;
      loop.stop();
    } else {
      again();
    }
  });
  again = [&] { tick.arm(5ms); };
  again();
  deadline.arm(limit);
  loop.run();
  return met;
}

std::vector<std::string> hosts(const std::vector<core::Address>& v) {
  std::vector<std::string> out;
  for (const auto& a : v) out.push_back(a.to_string());
  return out;
}

class ResolverTest : public ::testing::Test {
 protected:
  ResolverTest() : server_(kZone) {}
  ResolverOptions options() {
    ResolverOptions o;
    o.servers = {server_.udp};
    o.min_ttl = 500ms;
    o.negative_ttl = 700ms;
    o.timeout = 300ms;
    return o;
  }
  ServerThread server_;
  core::EventLoop loop_;
};

}  // namespace

TEST_F(ResolverTest, ResolvesWithPortAndReResolvesWhenTtlRunsOut) {
  ASSERT_TRUE(server_.ok) << server_.error;
  UpstreamResolver r(loop_, options());
  std::vector<std::vector<std::string>> changes;
  r.watch("svc.up.test", 8080, [&](const std::vector<core::Address>& a) { changes.push_back(hosts(a)); });
  ASSERT_TRUE(run_until(loop_, [&] { return changes.size() == 1; }, 3000ms));
  EXPECT_EQ(changes[0], (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));

  auto next = zone_with("{name: svc, type: A, ttl: 1, values: [10.0.0.2, 10.0.0.3]}");
  ASSERT_TRUE(server_.on_loop([&] { server_.server().update(next, std::make_shared<const DnsHealth>()); }));
  // TTL 1 s: the change is seen within about a second, and only once.
  ASSERT_TRUE(run_until(loop_, [&] { return changes.size() == 2; }, 3000ms));
  EXPECT_EQ(changes[1], (std::vector<std::string>{"10.0.0.2:8080", "10.0.0.3:8080"}));
  run_until(loop_, [] { return false; }, 1500ms);
  EXPECT_EQ(changes.size(), 2u) << "an unchanged answer must not be reported again";
}

TEST_F(ResolverTest, KeepsLastGoodAnswerWhenResolutionFails) {
  ASSERT_TRUE(server_.ok) << server_.error;
  UpstreamResolver r(loop_, options());
  int changes = 0;
  uint64_t id = r.watch("svc.up.test", 80, [&](const std::vector<core::Address>&) { ++changes; });
  ASSERT_TRUE(run_until(loop_, [&] { return changes == 1; }, 3000ms));
  ASSERT_TRUE(server_.on_loop([&] { server_.server().stop(); }));  // resolver now times out
  UpstreamResolver::Status st;
  ASSERT_TRUE(run_until(loop_, [&] { return r.status(id, st) && st.failures > 0; }, 5000ms));
  EXPECT_TRUE(st.stale);
  EXPECT_EQ(st.addresses.size(), 2u);
  EXPECT_EQ(changes, 1);
}

TEST_F(ResolverTest, CachesNegativeAnswers) {
  ASSERT_TRUE(server_.ok) << server_.error;
  UpstreamResolver r(loop_, options());
  int changes = 0;
  size_t last_size = 99;
  uint64_t id = r.watch("missing.up.test", 80, [&](const std::vector<core::Address>& a) {
    ++changes;
    last_size = a.size();
  });
  ASSERT_TRUE(run_until(loop_, [&] { return changes == 1; }, 3000ms));
  EXPECT_EQ(last_size, 0u);
  UpstreamResolver::Status st;
  ASSERT_TRUE(r.status(id, st));
  EXPECT_FALSE(st.stale);
  EXPECT_GT(st.next_in.count(), 400);
  EXPECT_LE(st.next_in.count(), 700);
}

TEST_F(ResolverTest, UnwatchStopsReports) {
  ASSERT_TRUE(server_.ok) << server_.error;
  UpstreamResolver r(loop_, options());
  int changes = 0;
  uint64_t id = r.watch("svc.up.test", 80, [&](const std::vector<core::Address>&) { ++changes; });
  r.unwatch(id);
  run_until(loop_, [] { return false; }, 500ms);
  EXPECT_EQ(changes, 0);
  UpstreamResolver::Status st;
  EXPECT_FALSE(r.status(id, st));
}

TEST(ResolverOptionsConfig, ParsesAndValidates) {
  config::ConfigErrors errs("t.yaml");
  ResolverOptions o;
  ASSERT_TRUE(parse_resolver_options(
      YAML::Load("{servers: [127.0.0.1:53, \"[::1]:5353\"], min_ttl: 2s, max_ttl: 1m, negative_ttl: 3s, timeout: 1s}"),
      o, errs))
      << errs.to_string();
  EXPECT_EQ(o.servers.size(), 2u);
  EXPECT_EQ(o.min_ttl.count(), 2000);
  EXPECT_EQ(o.max_ttl.count(), 60000);
  ResolverOptions bad;
  EXPECT_FALSE(parse_resolver_options(YAML::Load("{min_ttl: 0ms, servers: [dns.google:53], bogus: 1}"), bad, errs));
  EXPECT_GE(errs.all().size(), 3u);
}
