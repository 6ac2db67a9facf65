// A cluster as the data path sees it: hosts with their shared health, and whatever the
// balancer precomputes (the Maglev table). Immutable; built with each config snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "health/health_checker.h"
#include "stats/registry.h"

namespace hop::upstream {

struct Host {
  std::string name;  // "127.0.0.1:9101", also the key of its per-worker pool
  core::Address address;
  uint32_t weight = 1;
  std::shared_ptr<health::HealthState> health;  // null = not checked, always healthy

  bool healthy() const { return !health || health->healthy(); }
};

class Cluster {
 public:
  Cluster(const config::ClusterConfig& cfg, std::vector<Host> hosts, std::vector<stats::ClusterStats*> stats);

  const config::ClusterConfig& config() const { return *cfg_; }
  const std::string& name() const { return cfg_->name; }
  const std::vector<Host>& hosts() const { return hosts_; }
  const std::vector<uint16_t>& maglev_table() const { return maglev_; }
  stats::ClusterStats& stats(unsigned worker) const { return *stats_[worker]; }
  uint32_t total_weight() const { return total_weight_; }

 private:
  const config::ClusterConfig* cfg_;  // owned by the snapshot's Config
  std::vector<Host> hosts_;
  std::vector<uint16_t> maglev_;
  std::vector<stats::ClusterStats*> stats_;
  uint32_t total_weight_ = 0;
};

}  // namespace hop::upstream
