#include "upstream/balancer.h"

namespace hop::upstream {

namespace {
int random_eligible(ClusterState& s, const std::vector<bool>& eligible, size_t count) {
  size_t k = s.next_random() % count;
  for (size_t i = 0; i < eligible.size(); ++i)
    if (eligible[i] && k-- == 0) return static_cast<int>(i);
  return -1;
}
}  // namespace

// Power of two choices (Mitzenmacher): two random hosts, the one with fewer requests in
// flight per unit of weight wins. Nearly as good as a global minimum without its herding.
int pick_least_request(const Cluster& c, ClusterState& s, const std::vector<bool>& eligible) {
  size_t count = 0;
  for (bool e : eligible) count += e;
  if (count == 0) return -1;
  int a = random_eligible(s, eligible, count);
  if (count == 1) return a;
  int b = random_eligible(s, eligible, count);
  if (a == b) b = random_eligible(s, eligible, count);
  const auto& hosts = c.hosts();
  auto load = [&](int i) {
    return static_cast<double>(s.active[static_cast<size_t>(i)]) / hosts[static_cast<size_t>(i)].weight;
  };
  return load(b) < load(a) ? b : a;
}

}  // namespace hop::upstream
