#include "dns/dns_health.h"

#include "dns/dns_config.h"
#include "health/health_checker.h"

namespace hop::dns {

std::shared_ptr<const DnsHealth> bind_health(const DnsConfig& cfg, health::HealthChecker& checker,
                                             const ClusterHealth& cluster_health) {
  std::vector<std::function<bool()>> sources;
  sources.reserve(cfg.health_sources.size());
  for (const auto& s : cfg.health_sources) {
    if (s.cluster.empty()) {
      // The closure holds the state, so the probe goes on while this binding is in use.
      sources.push_back([state = checker.watch(s.target, s.check)] { return state->healthy(); });
    } else if (auto pred = cluster_health ? cluster_health(s.cluster) : std::function<bool()>{}) {
      sources.push_back(std::move(pred));
    } else {
      sources.push_back([] { return true; });  // a cluster without checks
    }
  }
  return std::make_shared<const DnsHealth>(std::move(sources));
}

}  // namespace hop::dns
