#include "proxy/retry.h"

#include <algorithm>

namespace hop::proxy {

bool policy_covers(const config::RetryPolicy& p, FailureKind kind, int status) {
  switch (kind) {
    case FailureKind::kConnectFailure: return p.on_connect_failure || p.on_gateway_error || p.on_5xx;
    case FailureKind::kRefused: return p.on_refused || p.on_connect_failure || p.on_gateway_error || p.on_5xx;
    case FailureKind::kReset: return p.on_reset || p.on_gateway_error || p.on_5xx;
    case FailureKind::kPerTryTimeout: return p.on_per_try_timeout || p.on_gateway_error || p.on_5xx;
    case FailureKind::kStatus:
      if (p.on_5xx && status >= 500) return true;
      if (p.on_gateway_error && (status == 502 || status == 503 || status == 504)) return true;
      return std::find(p.status_codes.begin(), p.status_codes.end(), status) != p.status_codes.end();
  }
  return false;
}

bool is_idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

bool budget_allows(const config::RetryPolicy& p, const upstream::ClusterShared& shared,
                   const config::CircuitBreakers& breakers, int64_t mine) {
  // Others' retries in flight, compared as before the caller's own was added.
  int64_t retries = shared.active_retries.load(std::memory_order_relaxed) - mine;
  int64_t active = shared.active_requests.load(std::memory_order_relaxed);
  if (breakers.max_retries && static_cast<uint64_t>(retries) >= breakers.max_retries) return false;
  double allowed = std::max<double>(p.budget_min, p.budget_percent / 100.0 * static_cast<double>(active));
  return static_cast<double>(retries) < allowed;
}

std::chrono::milliseconds backoff(const config::RetryPolicy& p, uint32_t n, uint64_t random) {
  int64_t d = p.backoff_base.count();
  for (uint32_t i = 1; i < n && d < p.backoff_max.count(); ++i) d *= 2;
  d = std::min<int64_t>(d, p.backoff_max.count());
  if (d <= 1) return std::chrono::milliseconds(d);
  int64_t half = d / 2;
  return std::chrono::milliseconds(half + static_cast<int64_t>(random % static_cast<uint64_t>(d - half + 1)));
}

}  // namespace hop::proxy
