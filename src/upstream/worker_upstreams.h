// A worker's upstream side: one pool per host address (kept across reloads, so a SIGHUP
// does not cost a single reconnect) and the balancer state of each cluster. Every cluster
// has HTTP/1.1 pools (they cost nothing until used); clusters that speak HTTP/2 (h2, h2c,
// and for now auto, which offers h2 and http/1.1 by ALPN but is served as h2) also have
// H2Pools, which is what their requests use.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "upstream/balancer.h"
#include "upstream/cluster.h"
#include "upstream/h2_session.h"
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
  // HTTP/2 clusters only (protocol h2, h2c or auto); the same indexes and rules as pool().
  H2Pool& h2pool(size_t cluster, size_t host) { return *h2pools_by_cluster_[cluster][host]; }
  H2Pool& h2pool_for(const Cluster& cluster, const Host& host);
  ClusterState& state(size_t cluster) { return states_[cluster]; }
  // Frees drained pools whose last connection has closed.
  void collect();
  // Closes every idle connection (graceful drain of the process).
  void drain_all();
  size_t pool_count() const { return pools_.size(); }
  size_t h2pool_count() const { return h2pools_.size(); }
  template <typename F>
  void for_each_pool(F&& f) const {
    for (const auto& [k, p] : pools_) f(*p);
  }
  // f(key "cluster/host", pool)
  template <typename F>
  void for_each_h2pool(F&& f) const {
    for (const auto& [k, p] : h2pools_) f(k, *p);
  }

 private:
  core::EventLoop& loop_;
  core::BufferPool& buffers_;
  unsigned worker_;
  size_t buffer_size_;
  std::unordered_map<std::string, std::unique_ptr<UpstreamPool>> pools_;  // key: cluster/host
  std::vector<std::unique_ptr<UpstreamPool>> draining_;
  std::vector<std::vector<UpstreamPool*>> pools_by_cluster_;
  std::unordered_map<std::string, std::unique_ptr<H2Pool>> h2pools_;  // key: cluster/host
  std::vector<std::pair<std::string, std::unique_ptr<H2Pool>>> h2draining_;
  std::vector<std::vector<H2Pool*>> h2pools_by_cluster_;  // empty for HTTP/1.1 clusters
  std::vector<ClusterState> states_;
  std::vector<std::string> state_keys_;  // cluster name per state, to keep state on reload
};

}  // namespace hop::upstream
