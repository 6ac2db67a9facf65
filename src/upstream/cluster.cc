#include "upstream/cluster.h"

#include "upstream/balancer.h"

namespace hop::upstream {

namespace {
// 65537 (prime) keeps Maglev's disruption on host changes near 1/N for clusters up to a few
// hundred hosts; small clusters get a smaller table to save memory.
size_t maglev_size(size_t hosts) { return hosts <= 16 ? 4099 : 65537; }
}  // namespace

Cluster::Cluster(const config::ClusterConfig& cfg, std::vector<Host> hosts, std::vector<stats::ClusterStats*> stats,
                 std::shared_ptr<ClusterShared> shared)
    : cfg_(&cfg), hosts_(std::move(hosts)), stats_(std::move(stats)), shared_(std::move(shared)) {
  for (auto& h : hosts_) {
    total_weight_ += h.weight;
    if (!h.outlier) h.outlier = std::make_shared<HostOutlier>();
  }
  if (cfg.lb == config::LbPolicy::kMaglev && !hosts_.empty()) maglev_ = build_maglev_table(hosts_, maglev_size(hosts_.size()));
}

}  // namespace hop::upstream
