// Host selection. The immutable part of each algorithm lives in Cluster (e.g. the Maglev
// table); the mutable part (round-robin positions, in-flight counts, the RNG) is per worker
// in ClusterState, so picking a host never takes a lock.
#pragma once

#include <cstdint>
#include <vector>

#include "upstream/cluster.h"

namespace hop::upstream {

struct ClusterState {
  std::vector<int64_t> rr_current;  // smooth weighted round robin (nginx's algorithm)
  std::vector<uint32_t> active;     // requests in flight per host, for least_request
  uint64_t rng = 0x9e3779b97f4a7c15ull;

  explicit ClusterState(size_t hosts = 0) : rr_current(hosts, 0), active(hosts, 0) {}
  uint64_t next_random();
};

struct PickRequest {
  uint64_t hash = 0;     // maglev key hash
  int exclude = -1;      // a host not to pick again (retry on another host)
};

// Returns a host index, or -1 when the cluster has no hosts. Unhealthy hosts are skipped;
// when none is healthy the cluster is in panic and all hosts are eligible (a guess beats a
// certain 503).
// now_ms is steady-clock milliseconds, for ejection deadlines: the worker loop's time,
// read once per loop turn, so that picking costs no clock read.
int pick_host(const Cluster& c, ClusterState& s, const PickRequest& req, int64_t now_ms);

// The algorithms, one file each; eligible[i] says whether host i may be picked.
int pick_round_robin(const Cluster& c, ClusterState& s, const std::vector<bool>& eligible);
int pick_least_request(const Cluster& c, ClusterState& s, const std::vector<bool>& eligible);
int pick_random(const Cluster& c, ClusterState& s, const std::vector<bool>& eligible);
int pick_maglev(const Cluster& c, uint64_t hash, const std::vector<bool>& eligible);

// Maglev lookup table (Eisenbud et al., NSDI 2016) of `size` entries (a prime), weighted.
std::vector<uint16_t> build_maglev_table(const std::vector<Host>& hosts, size_t size);

uint64_t hash_bytes(const void* data, size_t len);

}  // namespace hop::upstream
