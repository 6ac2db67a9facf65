// proxy::backoff: the exact schedule, which the integration test (test_retry_policy.py) can
// only bound from below on a loaded machine. The n-th retry waits in [d/2, d], d = min(max,
// base × 2^(n-1)); `random` picks the point, so the extremes are reached exactly.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <utility>

#include "proxy/retry.h"

using namespace hop;
using std::chrono::milliseconds;

namespace {

config::RetryPolicy policy(int base_ms, int max_ms) {
  config::RetryPolicy p;
  p.backoff_base = milliseconds(base_ms);
  p.backoff_max = milliseconds(max_ms);
  return p;
}

// The smallest and largest wait `backoff` can give for retry n, over every `random`: the
// offset is random % (d - d/2 + 1), so 0 and d - d/2 reach both ends.
std::pair<int64_t, int64_t> range(const config::RetryPolicy& p, uint32_t n) {
  int64_t lo = INT64_MAX, hi = 0;
  for (uint64_t r = 0; r < 1000; ++r) {
    int64_t v = proxy::backoff(p, n, r).count();
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return {lo, hi};
}

}  // namespace

TEST(RetryBackoff, DoublesPerRetryWithinHalfToFull) {
  auto p = policy(100, 10000);
  EXPECT_EQ(range(p, 1), std::make_pair(int64_t{50}, int64_t{100}));
  EXPECT_EQ(range(p, 2), std::make_pair(int64_t{100}, int64_t{200}));
  EXPECT_EQ(range(p, 3), std::make_pair(int64_t{200}, int64_t{400}));
}

TEST(RetryBackoff, IsCappedAtMax) {
  auto p = policy(100, 300);
  EXPECT_EQ(range(p, 3), std::make_pair(int64_t{150}, int64_t{300}));  // 400 capped
  EXPECT_EQ(range(p, 10), std::make_pair(int64_t{150}, int64_t{300}));
  EXPECT_EQ(range(p, 1000), std::make_pair(int64_t{150}, int64_t{300}));  // no overflow from 2^999
}

TEST(RetryBackoff, JitterSpreadsClientsOverTheRange) {
  auto p = policy(100, 300);
  std::set<int64_t> seen;
  for (uint64_t r = 0; r < 51; ++r) seen.insert(proxy::backoff(p, 1, r).count());
  EXPECT_EQ(seen.size(), 51u);  // every value of [50, 100]: synchronized clients spread out
}

TEST(RetryBackoff, OneMillisecondOrLessIsNotJittered) {
  EXPECT_EQ(proxy::backoff(policy(1, 2), 1, 12345).count(), 1);
  EXPECT_EQ(proxy::backoff(policy(0, 0), 3, 12345).count(), 0);
}
