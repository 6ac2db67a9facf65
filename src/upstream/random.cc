#include "upstream/balancer.h"

namespace hop::upstream {

// Weighted random.
int pick_random(const Cluster& c, ClusterState& s, const std::vector<bool>& eligible) {
  const auto& hosts = c.hosts();
  uint64_t total = 0;
  for (size_t i = 0; i < hosts.size(); ++i)
    if (eligible[i]) total += hosts[i].weight;
  if (total == 0) return -1;
  uint64_t r = s.next_random() % total;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (!eligible[i]) continue;
    if (r < hosts[i].weight) return static_cast<int>(i);
    r -= hosts[i].weight;
  }
  return -1;
}

}  // namespace hop::upstream
