// Prometheus text exposition (format 0.0.4) of hop's per-worker stat blocks, summed.
#pragma once

#include <map>
#include <string>

#include "stats/registry.h"

namespace hop::admin {

struct ProcessGauges {
  uint64_t config_generation = 0;
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  bool draining = false;
};

// Hosts the health checker took out of rotation, by cluster name (the checker's own count,
// summed over each cluster's hosts in the current snapshot).
using HealthEjections = std::map<std::string, uint64_t>;

void render_metrics(const stats::Registry& registry, const ProcessGauges& process, const HealthEjections& health,
                    std::string& out);

}  // namespace hop::admin
