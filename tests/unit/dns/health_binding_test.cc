// Parsing `dns:` records what each answer's health follows; bind_health gives it live state.
// The checker's loop never runs here: these tests are about which states exist, not probes.
#include <gtest/gtest.h>

#include "dns/dns_config.h"
#include "dns/dns_health.h"
#include "dns_test_util.h"
#include "health/health_checker.h"

using namespace hop;
using namespace hop::dns;

namespace {

constexpr const char* kZone = R"(
listen: [127.0.0.1:0]
zones:
  - origin: t.
    records:
      - name: f
        type: A
        policy: failover
        answers:
          - {value: 10.0.0.1, role: primary, health_check: {tcp: true, interval: 2s}}
          - {value: 10.0.0.2, role: secondary, cluster: blue}
      - name: m
        type: A
        policy: multivalue
        answers:
          - {value: 10.0.0.1, health_check: {tcp: true, interval: 2s}}
          - {value: 10.0.0.3}
)";

std::shared_ptr<const DnsConfig> parse(std::string* errors = nullptr) {
  config::ConfigErrors errs("zone.yaml");
  ClusterLookup clusters{[](std::string_view name) { return name == "blue"; }};
  auto cfg = parse_dns_config(YAML::Load(kZone), ".", errs, clusters);
  if (errors) *errors = errs.to_string();
  return cfg;
}

const RRset& rrset(const DnsConfig& cfg, const char* owner_text) {
  std::string owner, err;
  EXPECT_TRUE(text_to_name(owner_text, "", owner, true, err)) << err;
  const ZoneNode* node = cfg.zones.at(0).find(owner);
  EXPECT_NE(node, nullptr) << owner_text;
  return *node->find(type::kA);
}

}  // namespace

TEST(DnsHealthBinding, ParsingRecordsWhatEachAnswerFollows) {
  std::string errors;
  auto cfg = parse(&errors);
  ASSERT_TRUE(cfg) << errors;
  ASSERT_EQ(cfg->health_sources.size(), 3u);
  const auto& f = rrset(*cfg, "f.t.");
  ASSERT_EQ(f.choices.size(), 2u);
  const HealthSource& own = cfg->health_sources.at(f.choices[0].health);
  EXPECT_TRUE(own.cluster.empty());
  EXPECT_EQ(own.target.to_string(), "10.0.0.1:80");  // the answer's own IP, port 80
  EXPECT_EQ(own.check.kind, health::CheckSpec::Kind::kTcp);
  EXPECT_EQ(own.check.interval, std::chrono::seconds(2));
  EXPECT_EQ(cfg->health_sources.at(f.choices[1].health).cluster, "blue");
  const auto& m = rrset(*cfg, "m.t.");
  EXPECT_GE(m.choices[0].health, 0);
  EXPECT_EQ(m.choices[1].health, -1);  // no check: always in rotation
}

TEST(DnsHealthBinding, AnUnknownClusterIsAPositionedErrorAtParseTime) {
  config::ConfigErrors errs("zone.yaml");
  auto cfg = parse_dns_config(YAML::Load(kZone), ".", errs, ClusterLookup{});
  EXPECT_FALSE(cfg);
  EXPECT_NE(errs.to_string().find("zone.yaml:11:57:"), std::string::npos) << errs.to_string();
  EXPECT_NE(errs.to_string().find("no cluster named 'blue'"), std::string::npos) << errs.to_string();
}

TEST(DnsHealthBinding, BindingWatchesEachTargetAndCheckOnceSharedWithClusters) {
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto cfg = parse();
  ASSERT_TRUE(cfg);
  EXPECT_EQ(checker.watched(), 0u);
  // The cluster watches the same (target, check) as the records' own checks, as a
  // cluster whose host is 10.0.0.1:80 with that check would.
  health::CheckSpec spec = cfg->health_sources.at(0).check;
  auto target = *core::Address::parse("10.0.0.1:80");
  auto health = bind_health(*cfg, checker, [&](std::string_view) -> std::function<bool()> {
    auto state = checker.watch(target, spec);
    return [state] { return state->healthy(); };
  });
  EXPECT_EQ(checker.watched(), 1u);

  auto state = checker.watch(target, spec);
  const auto& f = rrset(*cfg, "f.t.");
  EXPECT_TRUE(health->healthy(f.choices[0].health));
  for (int i = 0; i < 2; ++i) state->record(false, "connect refused");
  EXPECT_FALSE(health->healthy(f.choices[0].health));
  EXPECT_FALSE(health->healthy(f.choices[1].health));
  EXPECT_TRUE(health->healthy(-1));
}

TEST(DnsHealthBinding, ARebindWhileTheOldBindingLivesKeepsTheHealthLearned) {
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto cfg = parse();
  ASSERT_TRUE(cfg);
  auto always_up = [](std::string_view) -> std::function<bool()> { return [] { return true; }; };
  auto before = bind_health(*cfg, checker, always_up);
  const HealthSource& own = cfg->health_sources.at(0);
  for (int i = 0; i < 2; ++i) checker.watch(own.target, own.check)->record(false, "timeout");
  // A reload: the new configuration is bound while workers still hold the old binding.
  auto next = parse();
  ASSERT_TRUE(next);
  auto after = bind_health(*next, checker, always_up);
  EXPECT_FALSE(after->healthy(rrset(*next, "f.t.").choices[0].health));
  EXPECT_EQ(checker.watched(), 1u);
}

TEST(DnsHealthBinding, NothingBoundKeepsEveryAnswerInRotation) {
  DnsHealth unbound;
  EXPECT_TRUE(unbound.healthy(-1));
  EXPECT_TRUE(unbound.healthy(0));
}
