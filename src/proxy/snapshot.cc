#include "proxy/snapshot.h"

#include "health/health_checker.h"

namespace hop::proxy {

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                               health::HealthChecker* checker, stats::Registry& registry,
                                               upstream::SharedStateRegistry& shared, uint64_t generation,
                                               const ResolvedLookup& resolved) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  snap->generation = generation;
  snap->clusters.reserve(cfg->clusters.size());
  for (const auto& cc : cfg->clusters) {
    std::vector<upstream::Host> hosts;
    auto add = [&](const core::Address& addr, uint32_t weight) {
      upstream::Host h;
      h.name = addr.to_string();
      for (const auto& existing : hosts)
        if (existing.name == h.name) return;  // a name resolving to a listed address
      h.address = addr;
      h.weight = weight;
      if (cc.health_check && checker) h.health = checker->watch(addr, *cc.health_check);
      h.outlier = shared.host(cc.name, h.name);
      hosts.push_back(std::move(h));
    };
    for (const auto& hc : cc.hosts) {
      if (hc.dns_name.empty()) add(hc.address, hc.weight);
      else if (resolved)
        for (const auto& a : resolved(hc.dns_name, hc.port)) add(a, hc.weight);
    }
    snap->clusters.emplace_back(cc, std::move(hosts), registry.cluster(cc.name), shared.cluster(cc.name));
  }
  for (const auto& l : cfg->listeners) snap->listener_stats.push_back(registry.listener(l.name));
  return snap;
}

}  // namespace hop::proxy
