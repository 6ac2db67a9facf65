#include "upstream/outlier_detector.h"

#include <algorithm>
#include <cmath>

#include "core/log.h"

namespace hop::upstream {

namespace {

stats::EjectionCause cause_of(Outcome outcome) {
  switch (outcome) {
    case Outcome::kConnectFailure: return stats::EjectionCause::kConnectFailure;
    case Outcome::kTimeout: return stats::EjectionCause::kTimeout;
    case Outcome::kReset: return stats::EjectionCause::kReset;
    default: return stats::EjectionCause::k5xx;
  }
}

template <typename T>
void clear(std::atomic<T>& a) {
  // Stores only when needed: the common case writes nothing to the shared line.
  if (a.load(std::memory_order_relaxed)) a.store(0, std::memory_order_relaxed);
}

bool try_eject(const Cluster& c, size_t host, EjectionReason reason, Outcome outcome, int64_t now,
               stats::ClusterStats& stats) {
  const auto& cfg = c.config().outlier;
  const auto& hosts = c.hosts();
  const Host& h = hosts[host];
  HostOutlier& o = *h.outlier;
  if (h.ejected(now)) return false;
  size_t ejected = 0;
  for (const auto& x : hosts) ejected += x.ejected(now);
  size_t max_ejected = std::max<size_t>(1, static_cast<size_t>(std::floor(cfg.max_ejection_percent * hosts.size() / 100.0)));
  if (ejected >= max_ejected) return false;  // the rest of the cluster could not take the load
  // The multiplier loses one for every base_ejection the host has spent in rotation since
  // its last ejection ended (Envoy's decay), so a host that fails once a day is not ejected
  // for max_ejection every time.
  int64_t base = std::max<int64_t>(1, cfg.base_ejection.count());
  int64_t until = o.ejected_until_ms.load(std::memory_order_relaxed);
  // Back in rotation since the deadline, or since the health pass that ended it early.
  int64_t back = until;
  if (h.health && o.reason() == EjectionReason::kConnectFailure) {
    int64_t pass = h.health->last_pass_started_ms();
    if (pass > o.ejected_at_ms.load(std::memory_order_relaxed) && pass < until) back = pass;
  }
  int64_t decay = back && now > back ? (now - back) / base : 0;
  int64_t m = std::max<int64_t>(0, static_cast<int64_t>(o.multiplier.load(std::memory_order_relaxed)) - decay) + 1;
  int64_t duration = std::min<int64_t>(base * m, cfg.max_ejection.count());
  // Reason and start go first: a worker that sees the new deadline must not judge it by the
  // last ejection's (Host::ejected ends a connect-failure ejection on a later health pass).
  o.last_reason.store(static_cast<uint32_t>(reason), std::memory_order_relaxed);
  o.ejected_at_ms.store(now, std::memory_order_relaxed);
  // One worker ejects: the one whose compare-exchange moves the deadline.
  if (!o.ejected_until_ms.compare_exchange_strong(until, now + duration)) return false;
  o.multiplier.store(static_cast<uint32_t>(m), std::memory_order_relaxed);
  uint32_t n = o.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  int64_t since = o.failing_since_ms.load(std::memory_order_relaxed);
  o.failing_since_ms.store(0, std::memory_order_relaxed);
  o.consecutive_5xx.store(0, std::memory_order_relaxed);
  o.consecutive_gateway.store(0, std::memory_order_relaxed);
  o.consecutive_connect.store(0, std::memory_order_relaxed);
  stats.ejections[static_cast<size_t>(cause_of(outcome))].inc();
  stats.ejection_delay.observe(since ? static_cast<double>(now - since) : 0.0);
  HOP_LOG_WARN("cluster {}: ejected {} for {} ms ({}, ejection {}, {} ms after its first failure)", c.name(), h.name,
               duration, ejection_reason(reason), n, since ? now - since : 0);
  return true;
}

}  // namespace

const char* ejection_reason(EjectionReason reason) {
  switch (reason) {
    case EjectionReason::k5xx: return "consecutive 5xx";
    case EjectionReason::kGatewayFailure: return "consecutive gateway failures";
    case EjectionReason::kConnectFailure: return "consecutive connect failures";
    case EjectionReason::kNone: break;
  }
  return "none";
}

bool record_outcome(const Cluster& c, size_t host, Outcome outcome, int64_t now_ms, stats::ClusterStats& stats) {
  if (host >= c.hosts().size()) return false;
  HostOutlier& o = *c.hosts()[host].outlier;
  const auto& cfg = c.config().outlier;
  if (outcome == Outcome::kSuccess) {
    clear(o.consecutive_5xx);
    clear(o.consecutive_gateway);
    clear(o.consecutive_connect);
    clear(o.failing_since_ms);
    return false;
  }
  if (!o.failing_since_ms.load(std::memory_order_relaxed)) o.failing_since_ms.store(now_ms, std::memory_order_relaxed);
  if (outcome == Outcome::k5xx) {
    clear(o.consecutive_connect);  // it answered: reachable
    uint32_t n = o.consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1;
    return cfg.enabled && n >= cfg.consecutive_5xx && try_eject(c, host, EjectionReason::k5xx, outcome, now_ms, stats);
  }
  uint32_t gateway = o.consecutive_gateway.fetch_add(1, std::memory_order_relaxed) + 1;
  if (outcome == Outcome::kConnectFailure) {
    uint32_t n = o.consecutive_connect.fetch_add(1, std::memory_order_relaxed) + 1;
    if (cfg.consecutive_local_origin_failure && n >= cfg.consecutive_local_origin_failure &&
        try_eject(c, host, EjectionReason::kConnectFailure, outcome, now_ms, stats))
      return true;
  } else {
    clear(o.consecutive_connect);  // it accepted the connection: reachable, maybe slow
  }
  return cfg.enabled && gateway >= cfg.consecutive_gateway_failure &&
         try_eject(c, host, EjectionReason::kGatewayFailure, outcome, now_ms, stats);
}

bool has_healthy_host_besides(const Cluster& c, int exclude, int64_t now_ms) {
  const auto& hosts = c.hosts();
  for (size_t i = 0; i < hosts.size(); ++i)
    if (static_cast<int>(i) != exclude && hosts[i].healthy(now_ms)) return true;
  return false;
}

}  // namespace hop::upstream
