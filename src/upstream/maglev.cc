#include <algorithm>

#include "upstream/balancer.h"

namespace hop::upstream {

std::vector<uint16_t> build_maglev_table(const std::vector<Host>& hosts, size_t size) {
  // Each host walks its own permutation of the table (offset, skip from two hashes of its
  // name) and claims the next free slot on its turn. Weighted: a host takes turns in
  // proportion to its weight (relative to the heaviest), so weights 2:1 fill 2:1.
  const size_t n = hosts.size();
  std::vector<uint64_t> offset(n), skip(n), next(n, 0);
  uint32_t max_w = 1;
  for (const auto& h : hosts) max_w = std::max(max_w, h.weight);
  for (size_t i = 0; i < n; ++i) {
    uint64_t h1 = hash_bytes(hosts[i].name.data(), hosts[i].name.size());
    uint64_t h2 = hash_bytes(&h1, sizeof h1);
    offset[i] = h1 % size;
    skip[i] = h2 % (size - 1) + 1;
  }
  std::vector<uint16_t> table(size, UINT16_MAX);
  std::vector<double> credit(n, 0.0);
  size_t filled = 0;
  while (filled < size) {
    for (size_t i = 0; i < n && filled < size; ++i) {
      credit[i] += static_cast<double>(hosts[i].weight) / max_w;
      if (credit[i] < 1.0) continue;
      credit[i] -= 1.0;
      size_t slot;
      do {
        slot = (offset[i] + next[i] * skip[i]) % size;
        ++next[i];
      } while (table[slot] != UINT16_MAX);
      table[slot] = static_cast<uint16_t>(i);
      ++filled;
    }
  }
  return table;
}

int pick_maglev(const Cluster& c, uint64_t hash, const std::vector<bool>& eligible) {
  const auto& table = c.maglev_table();
  if (table.empty()) return -1;
  // An ineligible host's keys move to the next slots' owners; everyone else's keys stay put.
  size_t slot = hash % table.size();
  for (size_t probe = 0; probe < table.size(); ++probe) {
    uint16_t h = table[(slot + probe) % table.size()];
    if (eligible[h]) return h;
  }
  return -1;
}

}  // namespace hop::upstream
