#include "upstream/worker_upstreams.h"

#include <algorithm>

#include <unordered_set>

namespace hop::upstream {

namespace {
bool speaks_h2(const config::ClusterConfig& c) {
  // kAuto is served as h2 for now: its TLS context offers h2 and http/1.1, and a host that
  // picks http/1.1 fails the connect with a logged reason.
  return c.protocol == config::UpstreamProtocol::kHttp2 || c.protocol == config::UpstreamProtocol::kH2c ||
         c.protocol == config::UpstreamProtocol::kAuto;
}

// The name TLS sends (SNI) and verifies: the cluster's sni, else the name the host was
// given by ("" for numeric hosts: ClientContext then verifies the address).
std::string tls_name(const Cluster& c, const Host& h) {
  const auto& t = c.config().tls;
  return t && !t->sni.empty() ? t->sni : h.server_name;
}

std::shared_ptr<const tls::ClientContext> h2_tls(const Cluster& c) {
  return c.config().protocol == config::UpstreamProtocol::kH2c ? nullptr : c.tls();
}
}  // namespace

void WorkerUpstreams::apply(const std::vector<Cluster>& clusters) {
  std::unordered_set<std::string> live, live_h2;
  std::vector<std::vector<UpstreamPool*>> by_cluster(clusters.size());
  std::vector<std::vector<H2Pool*>> h2_by_cluster(clusters.size());
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
      it->second->set_tls(c.tls(), tls_name(c, h));
      by_cluster[ci].push_back(it->second.get());
      if (!speaks_h2(c.config())) continue;
      live_h2.insert(key);
      auto h2 = h2pools_.find(key);
      if (h2 == h2pools_.end()) {
        h2 = h2pools_
                 .emplace(key, std::make_unique<H2Pool>(loop_, buffers_, h.address, h.name, tls_name(c, h),
                                                        c.config().pool, c.config().http2,
                                                        &c.stats(worker_), h2_tls(c)))
                 .first;
      } else {
        h2->second->update(c.config().pool, &c.stats(worker_));
        h2->second->set_tls(h2_tls(c), tls_name(c, h));
        h2->second->set_http2(c.config().http2);
      }
      h2->second->set_breakers(c.shared_ptr(), c.config().breakers);
      h2_by_cluster[ci].push_back(h2->second.get());
    }
    // Keep balancer positions for a cluster whose host list did not change size, but not
    // the in-flight counts: requests of the old snapshot release nothing in the new one
    // (host indexes may mean other hosts there), so a copied count would never come down.
    ClusterState st(c.hosts().size());
    for (size_t k = 0; k < state_keys_.size(); ++k)
      if (state_keys_[k] == c.name() && states_[k].active.size() == c.hosts().size()) {
        st = states_[k];
        std::fill(st.active.begin(), st.active.end(), 0u);
      }
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
  for (auto it = h2pools_.begin(); it != h2pools_.end();) {
    if (!live_h2.count(it->first)) {
      it->second->drain();
      h2draining_.emplace_back(it->first, std::move(it->second));
      it = h2pools_.erase(it);
    } else {
      ++it;
    }
  }
  pools_by_cluster_ = std::move(by_cluster);
  h2pools_by_cluster_ = std::move(h2_by_cluster);
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
  draining_.back()->set_breakers(cluster.shared_ptr(), cluster.config().breakers);
  draining_.back()->set_tls(cluster.tls(), tls_name(cluster, host));
  draining_.back()->drain();
  return *draining_.back();
}

H2Pool& WorkerUpstreams::h2pool_for(const Cluster& cluster, const Host& host) {
  std::string key = cluster.name() + "/" + host.name;
  auto it = h2pools_.find(key);
  if (it != h2pools_.end()) return *it->second;
  for (auto& [k, p] : h2draining_)
    if (k == key) return *p;
  auto pool = std::make_unique<H2Pool>(loop_, buffers_, host.address, host.name, tls_name(cluster, host),
                                       cluster.config().pool, cluster.config().http2,
                                       &cluster.stats(worker_), h2_tls(cluster));
  pool->set_breakers(cluster.shared_ptr(), cluster.config().breakers);
  pool->drain();
  h2draining_.emplace_back(key, std::move(pool));
  return *h2draining_.back().second;
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
  for (size_t i = 0; i < h2draining_.size();) {
    if (h2draining_[i].second->idle_and_empty()) {
      h2draining_[i] = std::move(h2draining_.back());
      h2draining_.pop_back();
    } else {
      ++i;
    }
  }
}

void WorkerUpstreams::drain_all() {
  for (auto& [k, p] : pools_) p->drain();
  for (auto& [k, p] : h2pools_) p->drain();
}

}  // namespace hop::upstream
