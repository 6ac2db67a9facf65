#include "upstream/outlier_detector.h"

#include <algorithm>
#include <cmath>

#include "core/log.h"

namespace hop::upstream {

namespace {
bool try_eject(const Cluster& c, size_t host, uint32_t reason, int64_t now) {
  const auto& cfg = c.config().outlier;
  const auto& hosts = c.hosts();
  HostOutlier& o = *hosts[host].outlier;
  if (o.ejected(now)) return false;
  size_t ejected = 0;
  for (const auto& h : hosts) ejected += h.outlier->ejected(now);
  size_t max_ejected = std::max<size_t>(1, static_cast<size_t>(std::floor(cfg.max_ejection_percent * hosts.size() / 100.0)));
  if (ejected >= max_ejected) return false;  // the rest of the cluster could not take the load
  uint32_t n = o.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  int64_t duration = std::min<int64_t>(cfg.base_ejection.count() * n, cfg.max_ejection.count());
  int64_t expected = o.ejected_until_ms.load(std::memory_order_relaxed);
  if (expected > now || !o.ejected_until_ms.compare_exchange_strong(expected, now + duration)) return false;
  o.last_reason.store(reason, std::memory_order_relaxed);
  o.consecutive_5xx.store(0, std::memory_order_relaxed);
  o.consecutive_gateway.store(0, std::memory_order_relaxed);
  HOP_LOG_WARN("cluster {}: ejected {} for {} ms ({}, ejection {})", c.name(), hosts[host].name, duration,
               ejection_reason(reason), n);
  return true;
}
}  // namespace

const char* ejection_reason(uint32_t code) {
  switch (code) {
    case 1: return "consecutive 5xx";
    case 2: return "consecutive gateway failures";
    default: return "none";
  }
}

bool record_outcome(const Cluster& c, size_t host, Outcome outcome, int64_t now_ms) {
  if (host >= c.hosts().size()) return false;
  HostOutlier& o = *c.hosts()[host].outlier;
  const auto& cfg = c.config().outlier;
  switch (outcome) {
    case Outcome::kSuccess:
      // Stores only when needed: the common case writes nothing to the shared line.
      if (o.consecutive_5xx.load(std::memory_order_relaxed)) o.consecutive_5xx.store(0, std::memory_order_relaxed);
      if (o.consecutive_gateway.load(std::memory_order_relaxed)) o.consecutive_gateway.store(0, std::memory_order_relaxed);
      return false;
    case Outcome::k5xx: {
      uint32_t n = o.consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1;
      return cfg.enabled && n >= cfg.consecutive_5xx && try_eject(c, host, 1, now_ms);
    }
    case Outcome::kGatewayFailure: {
      uint32_t n = o.consecutive_gateway.fetch_add(1, std::memory_order_relaxed) + 1;
      return cfg.enabled && n >= cfg.consecutive_gateway_failure && try_eject(c, host, 2, now_ms);
    }
  }
  return false;
}

}  // namespace hop::upstream
