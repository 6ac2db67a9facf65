#include "proxy/snapshot.h"

#include "health/health_checker.h"

namespace hop::proxy {

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                               health::HealthChecker* checker, stats::Registry& registry,
                                               upstream::SharedStateRegistry& shared, uint64_t generation,
                                               const ResolvedLookup& resolved, const TlsContexts* tls) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  snap->generation = generation;
  snap->clusters.reserve(cfg->clusters.size());
  for (const auto& cc : cfg->clusters) {
    std::vector<upstream::Host> hosts;
    auto add = [&](const core::Address& addr, uint32_t weight, const std::string& server_name) {
      upstream::Host h;
      h.name = addr.to_string();
      for (const auto& existing : hosts)
        if (existing.name == h.name) return;  // a name resolving to a listed address
      h.address = addr;
      h.weight = weight;
      h.server_name = server_name;
      if (cc.health_check && checker) h.health = checker->watch(addr, *cc.health_check);
      h.outlier = shared.host(cc.name, h.name);
      hosts.push_back(std::move(h));
    };
    for (const auto& hc : cc.hosts) {
      if (hc.dns_name.empty()) add(hc.address, hc.weight, hc.dns_name);
      else if (resolved)
        for (const auto& a : resolved(hc.dns_name, hc.port)) add(a, hc.weight, hc.dns_name);
    }
    snap->clusters.emplace_back(cc, std::move(hosts), registry.cluster(cc.name), shared.cluster(cc.name));
    size_t ci = snap->clusters.size() - 1;
    if (tls && ci < tls->clusters.size()) snap->clusters.back().set_tls(tls->clusters[ci]);
  }
  for (const auto& l : cfg->listeners) snap->listener_stats.push_back(registry.listener(l.name));
  snap->listener_tls.resize(cfg->listeners.size());
  if (tls)
    for (size_t i = 0; i < tls->listeners.size() && i < snap->listener_tls.size(); ++i)
      snap->listener_tls[i] = tls->listeners[i];
  return snap;
}

bool rebind_listener(const std::shared_ptr<const Snapshot>& newest, std::shared_ptr<const Snapshot>& snap,
                     size_t& listener_index) {
  if (newest == snap) return false;
  const auto& old = snap->config->listeners[listener_index];
  const auto& ls = newest->config->listeners;
  for (size_t i = 0; i < ls.size(); ++i) {
    if (ls[i].name == old.name && ls[i].address == old.address) {
      snap = newest;
      listener_index = i;
      return true;
    }
  }
  return false;
}

}  // namespace hop::proxy
