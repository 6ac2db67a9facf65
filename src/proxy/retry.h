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

// Takes one of the cluster's retry slots if the budget (active retries ≤ budget_percent of
// active requests, at least budget_min) and the max_retries breaker allow it. A CAS loop:
// across workers the count never passes the limit, not even for a moment.
bool reserve_retry(const config::RetryPolicy& p, upstream::ClusterShared& shared,
                   const config::CircuitBreakers& breakers);

// Takes one active-request slot unless the max_requests breaker (0 = none) is full.
bool reserve_request(upstream::ClusterShared& shared, uint64_t max_requests);

// Exponential backoff with jitter: the n-th retry (1-based) waits a random time in
// [d/2, d] where d = min(max, base × 2^(n-1)), so synchronized clients spread out.
std::chrono::milliseconds backoff(const config::RetryPolicy& p, uint32_t n, uint64_t random);

}  // namespace hop::proxy
