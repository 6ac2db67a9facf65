// Prometheus text exposition (format 0.0.4) of hop's per-worker stat blocks, summed.
#pragma once

#include <string>

#include "stats/registry.h"

namespace hop::admin {

struct ProcessGauges {
  uint64_t config_generation = 0;
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  bool draining = false;
};

void render_metrics(const stats::Registry& registry, const ProcessGauges& process, std::string& out);

}  // namespace hop::admin
