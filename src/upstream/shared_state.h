// State that every worker must see for a cluster or host: circuit-breaker and retry-budget
// gauges, and outlier ejection. Atomics, created by the control thread per name and kept
// for the life of the process, so a reload does not forget an ejection or reset a breaker.
// Workers touch these once per request (an atomic add), not per byte.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hop::upstream {

struct ClusterShared {
  std::atomic<int64_t> active_requests{0};
  std::atomic<int64_t> active_retries{0};
  std::atomic<int64_t> pending{0};
  std::atomic<int64_t> connections{0};
};

// Why a host was ejected by passive outlier detection (HostOutlier::last_reason).
enum class EjectionReason : uint32_t { kNone = 0, k5xx = 1, kGatewayFailure = 2, kConnectFailure = 3 };

// Passive outlier detection for one host (Envoy's consecutive-5xx, consecutive
// gateway-failure and consecutive local-origin-failure detectors).
struct HostOutlier {
  std::atomic<uint32_t> consecutive_5xx{0};
  std::atomic<uint32_t> consecutive_gateway{0};
  std::atomic<uint32_t> consecutive_connect{0};  // connects refused, failed or timed out in a row
  std::atomic<int64_t> failing_since_ms{0};      // first failure of the current run; 0 = none
  std::atomic<int64_t> ejected_at_ms{0};         // start of the current or last ejection
  std::atomic<int64_t> ejected_until_ms{0};      // steady-clock ms; 0 = not ejected
  std::atomic<uint32_t> ejections{0};            // ever, for /clusters
  std::atomic<uint32_t> multiplier{0};           // ejection time = base × this; decays while in rotation
  std::atomic<uint32_t> last_reason{0};          // EjectionReason

  bool ejected(int64_t now_ms) const { return ejected_until_ms.load(std::memory_order_relaxed) > now_ms; }
  EjectionReason reason() const { return static_cast<EjectionReason>(last_reason.load(std::memory_order_relaxed)); }
};

class SharedStateRegistry {
 public:
  std::shared_ptr<ClusterShared> cluster(const std::string& name);
  std::shared_ptr<HostOutlier> host(const std::string& cluster, const std::string& host);

 private:
  std::mutex mu_;  // control thread only
  std::map<std::string, std::shared_ptr<ClusterShared>> clusters_;
  std::map<std::string, std::shared_ptr<HostOutlier>> hosts_;
};

int64_t steady_now_ms();

}  // namespace hop::upstream
