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

bool reserve_retry(const config::RetryPolicy& p, upstream::ClusterShared& shared,
                   const config::CircuitBreakers& breakers) {
  int64_t retries = shared.active_retries.load(std::memory_order_relaxed);
  for (;;) {
    if (breakers.max_retries && static_cast<uint64_t>(retries) >= breakers.max_retries) return false;
    int64_t active = shared.active_requests.load(std::memory_order_relaxed);
    double allowed = std::max<double>(p.budget_min, p.budget_percent / 100.0 * static_cast<double>(active));
    if (static_cast<double>(retries) >= allowed) return false;
    if (shared.active_retries.compare_exchange_weak(retries, retries + 1, std::memory_order_relaxed)) return true;
  }
}

bool reserve_request(upstream::ClusterShared& shared, uint64_t max_requests) {
  if (!max_requests) {
    shared.active_requests.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  int64_t active = shared.active_requests.load(std::memory_order_relaxed);
  do {
    if (static_cast<uint64_t>(active) >= max_requests) return false;
  } while (!shared.active_requests.compare_exchange_weak(active, active + 1, std::memory_order_relaxed));
  return true;
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
