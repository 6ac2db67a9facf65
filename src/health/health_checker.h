// Active health checks, one checker per process on the control thread. Proxy clusters and
// DNS records watch the same targets through it, so a host is probed once however many
// places use it. Workers read results lock-free through HealthState.
#pragma once

#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/base/errors.h"
#include "core/event_loop.h"
#include "core/socket.h"

namespace hop::health {

struct CheckSpec {
  enum class Kind { kHttp, kTcp };
  Kind kind = Kind::kHttp;
  std::string method = "GET";
  std::string path = "/health";
  std::string host;  // Host header; empty = the target address
  std::vector<std::pair<int, int>> expected_statuses{{200, 399}};  // inclusive ranges
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
  double jitter = 0.1;  // each interval is stretched by up to this fraction, at random
  uint32_t unhealthy_threshold = 2;
  uint32_t healthy_threshold = 2;

  bool operator==(const CheckSpec&) const = default;
  std::string describe() const;  // "http GET /health every 1000ms" for logs and admin
};

// Parses a `health_check:` map. Keys: http (path, or a map {path, method, host, expect}),
// tcp: true, interval, timeout, jitter, unhealthy, healthy. Returns false and records
// positioned errors when invalid.
bool parse_check_spec(const YAML::Node& node, CheckSpec& out, config::ConfigErrors& errs);

// The shared result for one (target, spec). Written only by the checker thread.
class HealthState {
 public:
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  uint32_t consecutive_failures() const { return failures_.load(std::memory_order_relaxed); }
  uint32_t consecutive_successes() const { return successes_.load(std::memory_order_relaxed); }
  uint64_t checks() const { return checks_.load(std::memory_order_relaxed); }
  // Times this target went from healthy to unhealthy: the health checker's ejections.
  uint64_t went_unhealthy() const { return went_unhealthy_.load(std::memory_order_relaxed); }
  // A probe that started after `since_ms` (steady-clock ms) has passed: the target answered
  // after that moment. Outlier detection ends a connect-failure ejection on it.
  bool passed_since(int64_t since_ms) const { return last_pass_started_ms() > since_ms; }
  int64_t last_pass_started_ms() const { return last_pass_started_ms_.load(std::memory_order_relaxed); }
  std::string last_result() const;  // "200 in 1.2ms", "connect refused", "timeout after 1000ms"
  const core::Address& target() const { return target_; }
  const CheckSpec& spec() const { return spec_; }

  // Used by the checker; public for tests that drive state directly. started_ms: when the
  // probe began (steady-clock ms).
  void record(bool success, std::string result, int64_t started_ms = 0);
  HealthState(core::Address target, CheckSpec spec) : target_(target), spec_(std::move(spec)) {}

 private:
  core::Address target_;
  CheckSpec spec_;
  std::atomic<bool> healthy_{true};  // optimistic until proven otherwise: a new host serves
  std::atomic<uint32_t> failures_{0};
  std::atomic<uint32_t> successes_{0};
  std::atomic<uint64_t> checks_{0};
  std::atomic<uint64_t> went_unhealthy_{0};
  std::atomic<int64_t> last_pass_started_ms_{0};
  mutable std::mutex result_mu_;  // admin-only read path
  std::string last_result_ = "not checked yet";
};

class HealthChecker {
 public:
  explicit HealthChecker(core::EventLoop& control_loop);
  ~HealthChecker();

  // Returns the shared state for (target, spec), starting probes if it is new. The same
  // pair returns the same state across config reloads, so health survives a SIGHUP. A
  // target nobody holds any more (only the checker's reference left) stops being probed.
  std::shared_ptr<HealthState> watch(const core::Address& target, const CheckSpec& spec);

  size_t watched() const;

 private:
  struct Probe;
  void schedule(Probe& p);
  void start_probe(Probe& p);
  void finish_probe(Probe& p, bool ok, std::string result);
  void collect_unused();

  core::EventLoop& loop_;
  std::vector<std::unique_ptr<Probe>> probes_;
};

}  // namespace hop::health
