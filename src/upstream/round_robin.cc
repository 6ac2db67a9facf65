#include "upstream/balancer.h"

namespace hop::upstream {

// Smooth weighted round robin: every pick adds each host's weight to its credit and takes
// the host with the most credit, which then pays the total. Weights 5,1,1 give
// a a b a c a a — interleaved, not bursts of five.
int pick_round_robin(const Cluster& c, ClusterState& s, const std::vector<bool>& eligible) {
  const auto& hosts = c.hosts();
  int best = -1;
  int64_t total = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (!eligible[i]) continue;
    s.rr_current[i] += hosts[i].weight;
    total += hosts[i].weight;
    if (best < 0 || s.rr_current[i] > s.rr_current[static_cast<size_t>(best)]) best = static_cast<int>(i);
  }
  if (best >= 0) s.rr_current[static_cast<size_t>(best)] -= total;
  return best;
}

}  // namespace hop::upstream
