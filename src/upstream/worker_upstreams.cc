#include "upstream/worker_upstreams.h"

#include <unordered_set>

namespace hop::upstream {

void WorkerUpstreams::apply(const std::vector<Cluster>& clusters) {
  std::unordered_set<std::string> live;
  std::vector<std::vector<UpstreamPool*>> by_cluster(clusters.size());
  std::vector<ClusterState> states;
  std::vector<std::string> keys;
  for (size_t ci = 0; ci < clusters.size(); ++ci) {
    const Cluster& c = clusters[ci];
    for (const Host& h : c.hosts()) {
      // Pools are per cluster and host: two clusters naming the same address keep separate
      // limits, as their configs may differ.
      std::string key = c.name() + "/" + h.name;
      live.insert(key);
      auto it = pools_.find(key);
      if (it == pools_.end()) {
        it = pools_.emplace(key, std::make_unique<UpstreamPool>(loop_, buffers_, h.address, h.name, c.config().pool,
                                                                &c.stats(worker_), buffer_size_))
                 .first;
        it->second->set_key(key);
      } else {
        it->second->update(c.config().pool, &c.stats(worker_));
      }
      it->second->set_breakers(c.shared_ptr(), c.config().breakers);
      by_cluster[ci].push_back(it->second.get());
    }
    // Keep balancer positions for a cluster whose host list did not change size.
    ClusterState st(c.hosts().size());
    for (size_t k = 0; k < state_keys_.size(); ++k)
      if (state_keys_[k] == c.name() && states_[k].active.size() == c.hosts().size()) st = states_[k];
    states.push_back(std::move(st));
    keys.push_back(c.name());
  }
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (!live.count(it->first)) {
      it->second->drain();
      draining_.push_back(std::move(it->second));
      it = pools_.erase(it);
    } else {
      ++it;
    }
  }
  pools_by_cluster_ = std::move(by_cluster);
  states_ = std::move(states);
  state_keys_ = std::move(keys);
  collect();
}

UpstreamPool& WorkerUpstreams::pool_for(const Cluster& cluster, const Host& host) {
  std::string key = cluster.name() + "/" + host.name;
  auto it = pools_.find(key);
  if (it != pools_.end()) return *it->second;
  for (auto& p : draining_)
    if (p->key() == key) return *p;
  draining_.push_back(std::make_unique<UpstreamPool>(loop_, buffers_, host.address, host.name, cluster.config().pool,
                                                     &cluster.stats(worker_), buffer_size_));
  draining_.back()->set_key(key);
  draining_.back()->drain();
  return *draining_.back();
}

void WorkerUpstreams::collect() {
  for (size_t i = 0; i < draining_.size();) {
    if (draining_[i]->idle_and_empty()) {
      draining_[i] = std::move(draining_.back());
      draining_.pop_back();
    } else {
      ++i;
    }
  }
}

void WorkerUpstreams::drain_all() {
  for (auto& [k, p] : pools_) p->drain();
}

}  // namespace hop::upstream
