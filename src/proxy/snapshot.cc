#include "proxy/snapshot.h"

#include "health/health_checker.h"

namespace hop::proxy {

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                               health::HealthChecker* checker, stats::Registry& registry,
                                               upstream::SharedStateRegistry& shared, uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  snap->generation = generation;
  snap->clusters.reserve(cfg->clusters.size());
  for (const auto& cc : cfg->clusters) {
    std::vector<upstream::Host> hosts;
    for (const auto& hc : cc.hosts) {
      upstream::Host h;
      h.name = hc.address.to_string();
      h.address = hc.address;
      h.weight = hc.weight;
      if (cc.health_check && checker) h.health = checker->watch(hc.address, *cc.health_check);
      h.outlier = shared.host(cc.name, h.name);
      hosts.push_back(std::move(h));
    }
    snap->clusters.emplace_back(cc, std::move(hosts), registry.cluster(cc.name), shared.cluster(cc.name));
  }
  for (const auto& l : cfg->listeners) snap->listener_stats.push_back(registry.listener(l.name));
  return snap;
}

}  // namespace hop::proxy
