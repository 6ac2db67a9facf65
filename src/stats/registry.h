// Names → per-worker stat blocks. Blocks are created by the control thread when a config
// snapshot names a new listener or cluster and are never freed while the process runs, so
// a worker can keep a raw pointer and the admin thread can read any block at any time.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stats/counters.h"

namespace hop::stats {

// The failure that took a host out of rotation (passive detection), for
// hop_upstream_ejections_total{reason}; health-check removals are counted by the checker.
enum class EjectionCause : size_t { kConnectFailure, k5xx, kTimeout, kReset, kCount };
inline const char* to_string(EjectionCause c) {
  static const char* const kNames[] = {"connect_failure", "5xx", "timeout", "reset"};
  return kNames[static_cast<size_t>(c)];
}

struct ClusterStats {
  StatusClassCounters responses;  // upstream responses by class
  Counter requests;               // upstream attempts
  Counter connections_opened;
  Counter connections_reused;
  Counter connect_failures;
  Counter keepalive_timeouts;     // open HTTP/2 connections closed: a keepalive PING went unanswered
  Counter timeouts;
  Counter resets;
  Counter pool_overflow;          // rejected because the pending queue was full
  Counter breaker_open;           // rejected by a circuit breaker
  Counter retries;                // retries sent (not first attempts)
  Counter retry_overflow;         // retries refused by the retry budget
  Counter no_healthy;             // requests with no host to send to
  std::array<Counter, static_cast<size_t>(EjectionCause::kCount)> ejections;  // by EjectionCause
  Histogram ejection_delay;       // a host's first failure in a row → its ejection
  Gauge pending;                  // requests waiting for a connection
  Gauge active_connections;
  Histogram ttfb;                 // upstream time to first byte
};

struct ListenerStats {
  StatusClassCounters responses;
  Counter requests;
  Counter connections_accepted;
  Counter protocol_errors;       // 4xx answered by hop itself for malformed requests
  Counter spliced_bytes;         // response body bytes relayed with splice(2)
  Counter upgrades;              // 101 Switching Protocols relayed: connections that became tunnels
  Gauge active_connections;
  Gauge active_tunnels;          // WebSocket (upgraded) connections open now
  Histogram duration;            // request start → response complete
};

class Registry {
 public:
  explicit Registry(unsigned workers) : workers_(workers) {}
  unsigned workers() const { return workers_; }

  // One block per worker, stable for the life of the process.
  std::vector<ClusterStats*> cluster(const std::string& name);
  std::vector<ListenerStats*> listener(const std::string& name);

  template <typename F>
  void for_each_cluster(F&& f) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, blocks] : clusters_) f(name, blocks);
  }
  template <typename F>
  void for_each_listener(F&& f) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, blocks] : listeners_) f(name, blocks);
  }

 private:
  unsigned workers_;
  mutable std::mutex mu_;  // control and admin only; workers never take it
  std::map<std::string, std::vector<std::unique_ptr<ClusterStats>>> clusters_;
  std::map<std::string, std::vector<std::unique_ptr<ListenerStats>>> listeners_;
};

}  // namespace hop::stats
