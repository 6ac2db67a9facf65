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
#include "upstream/shared_state.h"

namespace hop::tls {
class ClientContext;
}

namespace hop::upstream {

struct Host {
  std::string name;  // "127.0.0.1:9101", also the key of its per-worker pool
  core::Address address;
  std::string server_name;  // the DNS name it was given by ("" for numeric hosts): TLS SNI
  uint32_t weight = 1;
  std::shared_ptr<health::HealthState> health;  // null = not checked, always healthy
  std::shared_ptr<HostOutlier> outlier;          // passive detection; never null

  bool health_ok() const { return !health || health->healthy(); }
  bool healthy(int64_t now_ms) const { return health_ok() && !ejected(now_ms); }
  // Out of rotation by outlier detection. An ejection for connect failures ends early when a
  // health check that started after it passed: the host accepts connections again, and
  // waiting out the ejection time would only keep a restarted host idle.
  bool ejected(int64_t now_ms) const {
    if (!outlier->ejected(now_ms)) return false;
    return !(health && outlier->reason() == EjectionReason::kConnectFailure &&
             health->passed_since(outlier->ejected_at_ms.load(std::memory_order_relaxed)));
  }
};

class Cluster {
 public:
  Cluster(const config::ClusterConfig& cfg, std::vector<Host> hosts, std::vector<stats::ClusterStats*> stats,
          std::shared_ptr<ClusterShared> shared = std::make_shared<ClusterShared>());

  const config::ClusterConfig& config() const { return *cfg_; }
  const std::string& name() const { return cfg_->name; }
  const std::vector<Host>& hosts() const { return hosts_; }
  const std::vector<uint16_t>& maglev_table() const { return maglev_; }
  stats::ClusterStats& stats(unsigned worker) const { return *stats_[worker]; }
  uint32_t total_weight() const { return total_weight_; }
  ClusterShared& shared() const { return *shared_; }
  const std::shared_ptr<ClusterShared>& shared_ptr() const { return shared_; }
  // TLS toward the hosts (null = cleartext); set while the snapshot is built.
  const std::shared_ptr<const tls::ClientContext>& tls() const { return tls_; }
  void set_tls(std::shared_ptr<const tls::ClientContext> t) { tls_ = std::move(t); }

 private:
  const config::ClusterConfig* cfg_;  // owned by the snapshot's Config
  std::vector<Host> hosts_;
  std::vector<uint16_t> maglev_;
  std::vector<stats::ClusterStats*> stats_;
  std::shared_ptr<ClusterShared> shared_;
  std::shared_ptr<const tls::ClientContext> tls_;
  uint32_t total_weight_ = 0;
};

}  // namespace hop::upstream
