// Retry decisions for one request: whether a failure is retriable under the route's
// policy, whether the cluster's retry budget and breaker allow another attempt, and how
// long to back off. Budgets are what stop retries from turning an outage into a storm.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "upstream/shared_state.h"

namespace hop::proxy {

enum class FailureKind { kConnectFailure, kRefused, kReset, kPerTryTimeout, kStatus };

bool policy_covers(const config::RetryPolicy& p, FailureKind kind, int status);

// RFC 9110 §9.2.2.
bool is_idempotent(std::string_view method);

// Active retries must stay within budget_percent of active requests (at least budget_min),
// and within the cluster's max_retries breaker.
// `mine` is how many of the active retries counted are the caller's own (already added).
bool budget_allows(const config::RetryPolicy& p, const upstream::ClusterShared& shared,
                   const config::CircuitBreakers& breakers, int64_t mine = 0);

// Exponential backoff with jitter: the n-th retry (1-based) waits a random time in
// [d/2, d] where d = min(max, base × 2^(n-1)), so synchronized clients spread out.
std::chrono::milliseconds backoff(const config::RetryPolicy& p, uint32_t n, uint64_t random);

}  // namespace hop::proxy
