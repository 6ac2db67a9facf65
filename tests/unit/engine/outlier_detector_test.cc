#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "upstream/balancer.h"
#include "upstream/outlier_detector.h"

using namespace hop;
using namespace hop::upstream;

namespace {

// A cluster of `n` hosts, with a health check state on each when `checked`.
struct Fixture {
  config::ClusterConfig cfg;
  stats::ClusterStats stats;
  std::vector<Host> hosts;
  explicit Fixture(size_t n, bool checked = false) {
    cfg.name = "app";
    cfg.panic_threshold = 0;
    cfg.outlier.base_ejection = std::chrono::milliseconds(1000);
    cfg.outlier.max_ejection = std::chrono::milliseconds(10000);
    cfg.outlier.max_ejection_percent = 50;
    for (size_t i = 0; i < n; ++i) {
      Host h;
      h.name = "10.0.0." + std::to_string(i + 1) + ":80";
      h.address = *core::Address::parse(h.name);
      if (checked) h.health = std::make_shared<health::HealthState>(h.address, health::CheckSpec{});
      hosts.push_back(h);
    }
  }
  Cluster cluster() { return Cluster(cfg, hosts, {&stats}); }
  uint64_t ejections(stats::EjectionCause c) const { return stats.ejections[static_cast<size_t>(c)].value(); }
};

}  // namespace

// The detector that does not wait for `outlier:`: the first refused connect takes the host
// out, and nothing else was configured.
TEST(OutlierDetector, OneFailedConnectEjectsTheHostWithoutAnyOutlierConfig) {
  Fixture f(2);
  ASSERT_FALSE(f.cfg.outlier.enabled);
  Cluster c = f.cluster();
  EXPECT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 5'000, f.stats));
  EXPECT_TRUE(c.hosts()[0].ejected(5'000));
  EXPECT_EQ(c.hosts()[0].outlier->reason(), EjectionReason::kConnectFailure);
  EXPECT_EQ(f.ejections(stats::EjectionCause::kConnectFailure), 1u);
  ClusterState s(2);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pick_host(c, s, {}, 5'001), 1);
}

TEST(OutlierDetector, ConnectFailureDetectorIsOffAtZero) {
  Fixture f(2);
  f.cfg.outlier.consecutive_local_origin_failure = 0;
  Cluster c = f.cluster();
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(record_outcome(c, 0, Outcome::kConnectFailure, 5'000 + i, f.stats));
  EXPECT_FALSE(c.hosts()[0].ejected(5'010));
}

TEST(OutlierDetector, ConnectFailuresMustBeConsecutive) {
  Fixture f(2);
  f.cfg.outlier.consecutive_local_origin_failure = 3;
  Cluster c = f.cluster();
  // A response of any kind, or a connection that was accepted and then failed, says the
  // host is reachable: the run starts again.
  for (Outcome between : {Outcome::kSuccess, Outcome::k5xx, Outcome::kReset, Outcome::kTimeout}) {
    EXPECT_FALSE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
    EXPECT_FALSE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
    EXPECT_FALSE(record_outcome(c, 0, between, 1'000, f.stats));
  }
  EXPECT_FALSE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_FALSE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
}

// The delay an operator reads in hop_upstream_ejection_delay_seconds: from the first failure
// of the run that ended in the ejection.
TEST(OutlierDetector, CountsTheEjectionByCauseWithTheTimeSinceTheFirstFailure) {
  Fixture f(2);
  f.cfg.outlier.enabled = true;
  f.cfg.outlier.consecutive_gateway_failure = 3;
  Cluster c = f.cluster();
  EXPECT_FALSE(record_outcome(c, 1, Outcome::kTimeout, 2'000, f.stats));
  EXPECT_FALSE(record_outcome(c, 1, Outcome::kReset, 2'100, f.stats));
  EXPECT_TRUE(record_outcome(c, 1, Outcome::kTimeout, 2'300, f.stats));
  EXPECT_EQ(c.hosts()[1].outlier->reason(), EjectionReason::kGatewayFailure);
  EXPECT_EQ(f.ejections(stats::EjectionCause::kTimeout), 1u);
  EXPECT_EQ(f.ejections(stats::EjectionCause::kConnectFailure), 0u);
  EXPECT_EQ(f.stats.ejection_delay.sum_us(), 300'000u);
}

TEST(OutlierDetector, GatewayAnd5xxDetectorsNeedOutlierConfig) {
  Fixture f(2);
  Cluster c = f.cluster();
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(record_outcome(c, 0, Outcome::k5xx, 1'000, f.stats));
    EXPECT_FALSE(record_outcome(c, 1, Outcome::kTimeout, 1'000, f.stats));
  }
}

// A connect-failure ejection is about a host that was gone; a health check that passes
// after it began says the host is back, so rotation resumes without waiting the ejection out.
TEST(OutlierDetector, AHealthCheckStartedAfterAConnectFailureEjectionEndsIt) {
  Fixture f(2, /*checked=*/true);
  Cluster c = f.cluster();
  auto& health = *c.hosts()[0].health;
  health.record(true, "200", 900);  // before the ejection: does not count
  ASSERT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_TRUE(c.hosts()[0].ejected(1'500));
  health.record(true, "200 (started before the ejection)", 1'000);
  EXPECT_TRUE(c.hosts()[0].ejected(1'500));
  health.record(true, "200", 1'200);
  EXPECT_FALSE(c.hosts()[0].ejected(1'500));
  EXPECT_TRUE(c.hosts()[0].healthy(1'500));
  // And a new failure ejects it again at once, although the old deadline has not passed.
  EXPECT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 1'600, f.stats));
  EXPECT_TRUE(c.hosts()[0].ejected(1'700));
}

// Time in rotation after a health check ended the ejection counts toward the decay, as time
// after a deadline does: a host lost for a few seconds every few minutes is ejected for base.
TEST(OutlierDetector, TimeBackInRotationAfterAHealthPassDecaysTheMultiplier) {
  Fixture f(2, /*checked=*/true);
  Cluster c = f.cluster();
  auto& o = *c.hosts()[0].outlier;
  auto& health = *c.hosts()[0].health;
  ASSERT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
  health.record(true, "200", 1'300);
  ASSERT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 1'400, f.stats));
  EXPECT_EQ(o.ejected_until_ms.load(), 1'400 + 2'000);  // back 100 ms: no decay yet
  health.record(true, "200", 1'500);
  ASSERT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 3'600, f.stats));
  EXPECT_EQ(o.ejected_until_ms.load(), 3'600 + 1'000);  // back 2.1 s: two steps off 2, then +1
}

TEST(OutlierDetector, AHealthCheckDoesNotEndA5xxEjection) {
  Fixture f(2, /*checked=*/true);
  f.cfg.outlier.enabled = true;
  f.cfg.outlier.consecutive_5xx = 1;
  Cluster c = f.cluster();
  ASSERT_TRUE(record_outcome(c, 0, Outcome::k5xx, 1'000, f.stats));
  c.hosts()[0].health->record(true, "200", 1'200);  // /health passes; the app still fails
  EXPECT_TRUE(c.hosts()[0].ejected(1'500));
}

TEST(OutlierDetector, EjectionTimeGrowsWithRepeatsAndDecaysInRotation) {
  Fixture f(2);
  Cluster c = f.cluster();
  auto& o = *c.hosts()[0].outlier;
  auto eject_at = [&](int64_t t) {
    EXPECT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, t, f.stats));
    return o.ejected_until_ms.load() - t;
  };
  EXPECT_EQ(eject_at(10'000), 1'000);  // base
  EXPECT_EQ(eject_at(11'000), 2'000);  // right after the first ended: 2 × base
  EXPECT_EQ(eject_at(13'000), 3'000);
  // 16'000 ends it; 2.5 s in rotation takes two steps off the multiplier of 3.
  EXPECT_EQ(eject_at(18'500), 2'000);
  // Back to back, it grows to max_ejection and stays there.
  int64_t last = 0;
  for (int64_t t = 20'500, i = 0; i < 20; ++i) t += (last = eject_at(t));
  EXPECT_EQ(last, 10'000);
  EXPECT_EQ(o.ejections.load(), 24u);
}

TEST(OutlierDetector, NeverEjectsMoreThanMaxEjectionPercent) {
  Fixture f(4);
  f.cfg.outlier.max_ejection_percent = 50;
  Cluster c = f.cluster();
  EXPECT_TRUE(record_outcome(c, 0, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_TRUE(record_outcome(c, 1, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_FALSE(record_outcome(c, 2, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_FALSE(c.hosts()[2].ejected(1'000));
  // A single host may always be ejected (panic mode then still sends to it).
  Fixture one(1);
  Cluster c1 = one.cluster();
  EXPECT_TRUE(record_outcome(c1, 0, Outcome::kConnectFailure, 1'000, one.stats));
}

TEST(OutlierDetector, HasHealthyHostBesidesIgnoresTheExcludedAndEjectedHosts) {
  Fixture f(3);
  f.cfg.outlier.max_ejection_percent = 100;
  Cluster c = f.cluster();
  EXPECT_TRUE(has_healthy_host_besides(c, 0, 1'000));
  ASSERT_TRUE(record_outcome(c, 1, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_TRUE(has_healthy_host_besides(c, 0, 1'000));  // host 2
  ASSERT_TRUE(record_outcome(c, 2, Outcome::kConnectFailure, 1'000, f.stats));
  EXPECT_FALSE(has_healthy_host_besides(c, 0, 1'000));
  EXPECT_TRUE(has_healthy_host_besides(c, 1, 1'000));  // host 0
  EXPECT_TRUE(has_healthy_host_besides(c, 0, 2'000));  // both ejections over
}
