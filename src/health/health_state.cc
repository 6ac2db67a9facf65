#include <spdlog/spdlog.h>

#include "health/health_state.h"

namespace hop::health {

std::string HealthState::last_result() const {
  std::lock_guard<std::mutex> lock(result_mu_);
  return last_result_;
}

// Thresholds make a flip need consecutive evidence, so one lost packet does not move
// traffic and one lucky probe does not bring a flapping host back.
void HealthState::record(bool success, std::string result, int64_t started_ms) {
  checks_.fetch_add(1, std::memory_order_relaxed);
  if (success) {
    last_pass_started_ms_.store(started_ms, std::memory_order_relaxed);
    failures_.store(0, std::memory_order_relaxed);
    uint32_t s = successes_.load(std::memory_order_relaxed) + 1;
    successes_.store(s, std::memory_order_relaxed);
    if (!healthy() && s >= spec_.healthy_threshold) {
      healthy_.store(true, std::memory_order_relaxed);
      spdlog::info("health: {} ({}) is healthy: {}", target_.to_string(), spec_.describe(), result);
    }
  } else {
    successes_.store(0, std::memory_order_relaxed);
    uint32_t f = failures_.load(std::memory_order_relaxed) + 1;
    failures_.store(f, std::memory_order_relaxed);
    if (healthy() && f >= spec_.unhealthy_threshold) {
      healthy_.store(false, std::memory_order_relaxed);
      went_unhealthy_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("health: {} ({}) is unhealthy: {}", target_.to_string(), spec_.describe(), result);
    }
  }
  std::lock_guard<std::mutex> lock(result_mu_);
  last_result_ = std::move(result);
}

}  // namespace hop::health
