// The shared result of probing one (target, check): written by the health checker on the
// control thread, read lock-free by workers (balancers, DNS answers).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include "core/socket.h"
#include "health/check_spec.h"

namespace hop::health {

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

}  // namespace hop::health
