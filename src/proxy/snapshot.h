// What a worker serves with: the config plus what was built from it (clusters with health
// states and balancer tables, stat blocks). Immutable; the control thread builds one per
// (re)load and posts it to every worker, which swaps it in between events.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "stats/registry.h"
#include "upstream/cluster.h"
#include "upstream/shared_state.h"

namespace hop::health {
class HealthChecker;
}

namespace hop::proxy {

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::vector<upstream::Cluster> clusters;                       // config->clusters order
  std::vector<std::vector<stats::ListenerStats*>> listener_stats;  // [listener][worker]
  uint64_t generation = 0;
};

// Addresses a host name currently resolves to (hosts given by name in the config).
using ResolvedLookup = std::function<std::vector<core::Address>(const std::string& name, uint16_t port)>;

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                               health::HealthChecker* checker, stats::Registry& registry,
                                               upstream::SharedStateRegistry& shared, uint64_t generation,
                                               const ResolvedLookup& resolved = {});

}  // namespace hop::proxy
