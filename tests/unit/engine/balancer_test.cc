#include <gtest/gtest.h>

#include <map>
#include <string>

#include "upstream/balancer.h"
#include "upstream/outlier_detector.h"

using namespace hop;
using namespace hop::upstream;

namespace {
struct Fixture {
  config::ClusterConfig cfg;
  stats::ClusterStats stats;
  std::unique_ptr<Cluster> cluster;
  Fixture(config::LbPolicy lb, std::vector<std::pair<std::string, uint32_t>> hosts) {
    cfg.name = "c";
    cfg.lb = lb;
    std::vector<Host> hs;
    for (auto& [name, w] : hosts) {
      Host h;
      h.name = name;
      h.address = *core::Address::parse(name);
      h.weight = w;
      hs.push_back(h);
    }
    cluster = std::make_unique<Cluster>(cfg, hs, std::vector<stats::ClusterStats*>{&stats});
  }
};
}  // namespace

TEST(RoundRobin, InterleavesByWeight) {
  Fixture f(config::LbPolicy::kRoundRobin, {{"10.0.0.1:1", 5}, {"10.0.0.2:1", 1}, {"10.0.0.3:1", 1}});
  ClusterState s(3);
  std::string seq;
  for (int i = 0; i < 7; ++i) seq += static_cast<char>('a' + pick_host(*f.cluster, s, {}, 0));
  EXPECT_EQ(seq, "aabacaa");  // nginx's smooth weighted round robin, not "aaaaabc"
}

TEST(RoundRobin, SkipsUnhealthyHostsAndPanicsWhenNoneHealthy) {
  Fixture f(config::LbPolicy::kRoundRobin, {{"10.0.0.1:1", 1}, {"10.0.0.2:1", 1}});
  f.cfg.panic_threshold = 0;  // only panic when nothing is healthy
  health::CheckSpec spec;
  auto bad = std::make_shared<health::HealthState>(*core::Address::parse("10.0.0.1:1"), spec);
  for (int i = 0; i < 3; ++i) bad->record(false, "down");
  ASSERT_FALSE(bad->healthy());
  std::vector<Host> hs = f.cluster->hosts();
  hs[0].health = bad;
  Cluster c(f.cfg, hs, {&f.stats});
  ClusterState s(2);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pick_host(c, s, {}, 0), 1);
  hs[1].health = bad;
  Cluster all_bad(f.cfg, hs, {&f.stats});
  std::map<int, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[pick_host(all_bad, s, {}, 0)];
  EXPECT_EQ(seen.size(), 2u);  // panic: balance across all
}

// The caller's time decides ejection (the worker passes its loop's time): the host is
// skipped before its deadline and picked again from it on.
TEST(RoundRobin, SkipsAnEjectedHostUntilTheGivenTimeReachesItsDeadline) {
  Fixture f(config::LbPolicy::kRoundRobin, {{"10.0.0.1:1", 1}, {"10.0.0.2:1", 1}});
  f.cfg.panic_threshold = 0;
  f.cfg.outlier.enabled = true;
  f.cfg.outlier.consecutive_5xx = 1;
  f.cfg.outlier.base_ejection = std::chrono::milliseconds(1000);
  f.cfg.outlier.max_ejection_percent = 50;
  Cluster c(f.cfg, f.cluster->hosts(), {&f.stats});
  ASSERT_TRUE(record_outcome(c, 0, Outcome::k5xx, 10'000, f.stats));
  ClusterState s(2);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(pick_host(c, s, {}, 10'999), 1);
  std::map<int, int> seen;
  for (int i = 0; i < 6; ++i) ++seen[pick_host(c, s, {}, 11'000)];
  EXPECT_EQ(seen.size(), 2u);
}

TEST(RoundRobin, ExcludesAHostForRetries) {
  Fixture f(config::LbPolicy::kRoundRobin, {{"10.0.0.1:1", 1}, {"10.0.0.2:1", 1}});
  ClusterState s(2);
  PickRequest pr;
  pr.exclude = 0;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pick_host(*f.cluster, s, pr, 0), 1);
}

TEST(LeastRequest, PrefersTheLessLoadedHost) {
  Fixture f(config::LbPolicy::kLeastRequest, {{"10.0.0.1:1", 1}, {"10.0.0.2:1", 1}});
  ClusterState s(2);
  s.active = {50, 0};
  int to_idle = 0;
  for (int i = 0; i < 100; ++i) to_idle += pick_host(*f.cluster, s, {}, 0) == 1;
  // Two choices from two hosts: whenever both are sampled the idle one wins (≥ 50%).
  EXPECT_GT(to_idle, 60);
}

TEST(Random, FollowsWeights) {
  Fixture f(config::LbPolicy::kRandom, {{"10.0.0.1:1", 3}, {"10.0.0.2:1", 1}});
  ClusterState s(2);
  int a = 0;
  for (int i = 0; i < 40000; ++i) a += pick_host(*f.cluster, s, {}, 0) == 0;
  EXPECT_NEAR(a / 40000.0, 0.75, 0.02);
}

TEST(Maglev, SameKeySameHostAndSpreadsByWeight) {
  Fixture f(config::LbPolicy::kMaglev, {{"10.0.0.1:1", 1}, {"10.0.0.2:1", 1}, {"10.0.0.3:1", 2}});
  ClusterState s(3);
  std::map<int, int> counts;
  for (int k = 0; k < 20000; ++k) {
    std::string key = "user-" + std::to_string(k);
    PickRequest pr;
    pr.hash = hash_bytes(key.data(), key.size());
    int h = pick_host(*f.cluster, s, pr, 0);
    EXPECT_EQ(h, pick_host(*f.cluster, s, pr, 0));
    ++counts[h];
  }
  EXPECT_NEAR(counts[2] / 20000.0, 0.5, 0.05);
  EXPECT_NEAR(counts[0] / 20000.0, 0.25, 0.05);
}

TEST(Maglev, RemovingAHostMovesOnlyItsKeys) {
  Fixture three(config::LbPolicy::kMaglev, {{"10.0.0.1:1", 1}, {"10.0.0.2:1", 1}, {"10.0.0.3:1", 1}});
  Fixture two(config::LbPolicy::kMaglev, {{"10.0.0.1:1", 1}, {"10.0.0.2:1", 1}});
  ClusterState s3(3), s2(2);
  int moved = 0, kept_candidates = 0;
  for (int k = 0; k < 10000; ++k) {
    std::string key = std::to_string(k);
    PickRequest pr;
    pr.hash = hash_bytes(key.data(), key.size());
    int before = pick_host(*three.cluster, s3, pr, 0);
    if (before == 2) continue;  // keys of the removed host must move
    ++kept_candidates;
    moved += before != pick_host(*two.cluster, s2, pr, 0);
  }
  EXPECT_LT(moved, kept_candidates / 10);  // Maglev promises minimal disruption
}
