#include <gtest/gtest.h>

#include "config/loader.h"

using namespace hop;

namespace {
std::string errors_of(const std::string& yaml) {
  config::ConfigErrors errs("c.yaml");
  auto cfg = config::load_config_text(yaml, "c.yaml", "/tmp", errs);
  return cfg ? "" : errs.to_string();
}
}  // namespace

TEST(ConfigLoader, AcceptsAMinimalProxy) {
  EXPECT_EQ(errors_of("listeners: [{name: w, address: '127.0.0.1:80', routes: [{cluster: a}]}]\n"
                      "clusters: [{name: a, hosts: ['127.0.0.1:81']}]\n"),
            "");
}

TEST(ConfigLoader, ReportsUnknownKeysWithPosition) {
  auto e = errors_of("listeners:\n  - name: w\n    adress: 127.0.0.1:80\n    routes: [{cluster: a}]\n"
                     "clusters: [{name: a, hosts: ['127.0.0.1:81']}]\n");
  EXPECT_NE(e.find("c.yaml:3:5: unknown key 'adress'"), std::string::npos) << e;
}

TEST(ConfigLoader, ReportsBadAddressesAndTypes) {
  auto e = errors_of("workers: many\nlisteners:\n  - name: w\n    address: localhost\n    routes: [{cluster: a}]\n"
                     "clusters: [{name: a, hosts: ['127.0.0.1:99999']}]\n");
  EXPECT_NE(e.find("c.yaml:1:10: expected a non-negative integer"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:4:14: expected an address"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:6:"), std::string::npos) << e;
}

TEST(ConfigLoader, ReportsDuplicateNamesAndMissingClusters) {
  auto e = errors_of(
      "listeners:\n  - {name: w, address: '127.0.0.1:80', routes: [{cluster: nope}]}\n"
      "  - {name: w, address: '127.0.0.1:80', routes: [{split: {a: 1, ghost: 1}}]}\n"
      "clusters:\n  - {name: a, hosts: ['127.0.0.1:81']}\n  - {name: a, hosts: ['127.0.0.1:82']}\n");
  EXPECT_NE(e.find("duplicate listener name 'w'"), std::string::npos) << e;
  EXPECT_NE(e.find("used by another listener"), std::string::npos) << e;
  EXPECT_NE(e.find("duplicate cluster name 'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:2:59: route refers to unknown cluster 'nope'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown cluster 'ghost'"), std::string::npos) << e;
}

TEST(ConfigLoader, ReportsYamlSyntaxErrorsWithPosition) {
  auto e = errors_of("listeners: [\n  - {name: w\n");
  EXPECT_EQ(e.rfind("c.yaml:", 0), 0u) << e;
}

TEST(ConfigLoader, ResolvesRelativeAccessLogPathAgainstConfigFolder) {
  config::ConfigErrors errs("c.yaml");
  auto cfg = config::load_config_text("access_log: logs/a.log\nbackends: [{name: b, address: '127.0.0.1:1'}]\n",
                                      "c.yaml", "/etc/hop", errs);
  ASSERT_TRUE(cfg) << errs.to_string();
  EXPECT_EQ(cfg->access_log.path, "/etc/hop/logs/a.log");
}

TEST(ConfigLoader, RejectsActionsThatConflict) {
  auto e = errors_of("listeners: [{name: w, address: '127.0.0.1:80', routes: [{cluster: a, direct: {status: 200}}]}]\n"
                     "clusters: [{name: a, hosts: ['127.0.0.1:81']}]\n");
  EXPECT_NE(e.find("exactly one action"), std::string::npos) << e;
}

TEST(ConfigLoader, DeferAcceptDefaultsToOneSecondAndCanBeTurnedOff) {
  auto load = [](const std::string& timeouts) {
    config::ConfigErrors errs("c.yaml");
    return config::load_config_text("listeners: [{name: w, address: '127.0.0.1:80', routes: [{cluster: a}]" + timeouts +
                                        "}]\nclusters: [{name: a, hosts: ['127.0.0.1:81']}]\n",
                                    "c.yaml", "/tmp", errs);
  };
  auto dflt = load("");
  ASSERT_TRUE(dflt);
  EXPECT_EQ(dflt->listeners[0].timeouts.defer_accept, std::chrono::milliseconds(1000));
  auto off = load(", timeouts: {defer_accept: 0s}");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->listeners[0].timeouts.defer_accept, std::chrono::milliseconds(0));
  EXPECT_NE(errors_of("listeners: [{name: w, address: '127.0.0.1:80', routes: [{cluster: a}], "
                      "timeouts: {defer_accept: 1h}}]\nclusters: [{name: a, hosts: ['127.0.0.1:81']}]\n")
                .find("c.yaml:1:97: defer_accept must be at most 10m"),
            std::string::npos);
}

TEST(ConfigLoader, ZeroTimeoutsAreErrorsAndZeroBreakersMeanUnlimited) {
  auto e = errors_of(
      "listeners:\n  - name: w\n    address: '127.0.0.1:80'\n    timeouts: {idle: 0s, request: 0ms, header_read: 0s}\n"
      "    routes: [{cluster: a, timeout: 0s, retries: {per_try_timeout: 0s}}]\n"
      "clusters:\n  - {name: a, hosts: ['127.0.0.1:81'], connect_timeout: 0s, pool: {idle_timeout: 0s},\n"
      "     circuit_breakers: {max_connections: 0, max_pending: 0, max_requests: 0, max_retries: 0}}\n");
  for (const char* at : {"c.yaml:4:22:", "c.yaml:4:35:", "c.yaml:4:53:", "c.yaml:5:36:", "c.yaml:5:67:",
                         "c.yaml:7:57:", "c.yaml:7:82:"})
    EXPECT_NE(e.find(std::string(at) + " a timeout must be more than 0"), std::string::npos) << at << "\n" << e;
  EXPECT_EQ(e.find("circuit_breakers"), std::string::npos) << e;
  EXPECT_EQ(e.find("max_"), std::string::npos) << e;
}

TEST(ConfigLoader, DnsMayNotShareAnAddressWithAListener) {
  auto e = errors_of("listeners: [{name: w, address: '127.0.0.1:5353', routes: [{cluster: a}]}]\n"
                     "clusters: [{name: a, hosts: ['127.0.0.1:81']}]\n"
                     "dns:\n  listen: ['127.0.0.1:5353']\n  zones: [{origin: t., records: [{name: x, type: A, value: 10.0.0.1}]}]\n");
  EXPECT_NE(e.find("c.yaml:4:11: dns address 127.0.0.1:5353 is used by a listener"), std::string::npos) << e;
}

TEST(ConfigLoader, DnsHealthFromAClusterOfNamedHostsIsAnError) {
  auto e = errors_of(
      "clusters:\n  - {name: app, hosts: ['app.example.test:80'], health_check: {http: /health}}\n"
      "dns:\n  listen: ['127.0.0.1:0']\n  zones:\n    - origin: t.\n      records:\n"
      "        - {name: w, type: A, policy: failover, answers: [{value: 10.0.0.1, role: primary, cluster: app},\n"
      "                                                         {value: 10.0.0.2, role: secondary}]}\n");
  EXPECT_NE(e.find("has a host given by name (app.example.test)"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:8:"), std::string::npos) << e;
}

// The connect-failure detector is on without an `outlier:` section (a dead host leaves at
// once); `outlier:` turns on the 5xx and gateway detectors and can set or turn it off.
TEST(ConfigLoader, ConnectFailureEjectionIsOnByDefaultAndOffAtZero) {
  auto load = [](const std::string& cluster_extra) {
    config::ConfigErrors errs("c.yaml");
    auto cfg = config::load_config_text("listeners: [{name: w, address: '127.0.0.1:80', routes: [{cluster: a}]}]\n"
                                        "clusters: [{name: a, hosts: ['127.0.0.1:81']" + cluster_extra + "}]\n",
                                        "c.yaml", "/tmp", errs);
    EXPECT_TRUE(cfg) << errs.to_string();
    return cfg ? cfg->clusters[0].outlier : config::OutlierConfig{};
  };
  auto d = load("");
  EXPECT_FALSE(d.enabled);
  EXPECT_EQ(d.consecutive_local_origin_failure, 1u);
  auto off = load(", outlier: {consecutive_local_origin_failure: 0}");
  EXPECT_TRUE(off.enabled);
  EXPECT_EQ(off.consecutive_local_origin_failure, 0u);
  EXPECT_EQ(load(", outlier: {consecutive_local_origin_failure: 3}").consecutive_local_origin_failure, 3u);
  auto e = errors_of("listeners: [{name: w, address: '127.0.0.1:80', routes: [{cluster: a}]}]\n"
                     "clusters: [{name: a, hosts: ['127.0.0.1:81'], outlier: {consecutive_local_origin_failure: -1}}]\n");
  EXPECT_NE(e.find("c.yaml:2:"), std::string::npos) << e;
}
