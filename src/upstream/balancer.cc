#include "upstream/balancer.h"

namespace hop::upstream {

uint64_t ClusterState::next_random() {
  // xorshift64*: cheap and good enough to spread load; not for anything secret.
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

uint64_t hash_bytes(const void* data, size_t len) {
  // FNV-1a with a splitmix64 finish so nearby keys land far apart in the Maglev table.
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

int pick_host(const Cluster& c, ClusterState& s, const PickRequest& req, int64_t now) {
  const auto& hosts = c.hosts();
  if (hosts.empty()) return -1;
  if (s.active.size() != hosts.size()) s = ClusterState(hosts.size());
  // Small clusters are the norm; a fixed-size mask avoids allocating per request.
  thread_local std::vector<bool> eligible;
  eligible.assign(hosts.size(), false);
  size_t n = 0, healthy = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i].healthy(now)) {
      ++healthy;
      if (static_cast<int>(i) != req.exclude) {
        eligible[i] = true;
        ++n;
      }
    }
  }
  // Panic: when too few hosts are healthy, the health signal is more likely wrong (or the
  // survivors would be crushed) than the hosts all down: balance across every host, as
  // Envoy does, rather than failing or overloading.
  bool panic = n == 0 || 100.0 * static_cast<double>(healthy) < c.config().panic_threshold * hosts.size();
  if (panic) {
    // Every host but the excluded one, and the excluded one only if it is all there is.
    for (size_t i = 0; i < hosts.size(); ++i) eligible[i] = static_cast<int>(i) != req.exclude;
    if (hosts.size() == 1) eligible[0] = true;
  }
  switch (c.config().lb) {
    case config::LbPolicy::kRoundRobin: return pick_round_robin(c, s, eligible);
    case config::LbPolicy::kLeastRequest: return pick_least_request(c, s, eligible);
    case config::LbPolicy::kRandom: return pick_random(c, s, eligible);
    case config::LbPolicy::kMaglev: return pick_maglev(c, req.hash, eligible);
  }
  return -1;
}

}  // namespace hop::upstream
