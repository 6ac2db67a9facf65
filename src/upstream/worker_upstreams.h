// A worker's upstream side: one pool per host address (kept across reloads, so a SIGHUP
// does not cost a single reconnect) and the balancer state of each cluster.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "upstream/balancer.h"
#include "upstream/cluster.h"
#include "upstream/pool.h"

namespace hop::upstream {

class WorkerUpstreams {
 public:
  WorkerUpstreams(core::EventLoop& loop, core::BufferPool& buffers, unsigned worker, size_t buffer_size)
      : loop_(loop), buffers_(buffers), worker_(worker), buffer_size_(buffer_size) {}

  // Points pools and balancer state at a new snapshot's clusters. Pools of hosts that are
  // gone are drained: idle connections close now, busy ones when their request ends.
  void apply(const std::vector<Cluster>& clusters);

  UpstreamPool& pool(size_t cluster, size_t host) { return *pools_by_cluster_[cluster][host]; }
  // For a request still on an older snapshot, whose host indexes do not match the current
  // one: the pool by name, a draining one, or a new draining one for a host the current
  // config no longer has (so in-flight requests finish on the config they started with).
  UpstreamPool& pool_for(const Cluster& cluster, const Host& host);
  ClusterState& state(size_t cluster) { return states_[cluster]; }
  // Frees drained pools whose last connection has closed.
  void collect();
  // Closes every idle connection (graceful drain of the process).
  void drain_all();
  size_t pool_count() const { return pools_.size(); }
  template <typename F>
  void for_each_pool(F&& f) const {
    for (const auto& [k, p] : pools_) f(*p);
  }

 private:
  core::EventLoop& loop_;
  core::BufferPool& buffers_;
  unsigned worker_;
  size_t buffer_size_;
  std::unordered_map<std::string, std::unique_ptr<UpstreamPool>> pools_;  // key: cluster/host
  std::vector<std::unique_ptr<UpstreamPool>> draining_;
  std::vector<std::vector<UpstreamPool*>> pools_by_cluster_;
  std::vector<ClusterState> states_;
  std::vector<std::string> state_keys_;  // cluster name per state, to keep state on reload
};

}  // namespace hop::upstream
