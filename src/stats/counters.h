// Per-worker statistics. Each block has exactly one writer (its worker thread), so updates
// are a relaxed load and store — no lock, no contended atomic RMW on the request path; the
// admin thread sums the blocks when scraped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace hop::stats {

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void add(int64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Latency histogram with fixed bucket bounds (milliseconds), Prometheus-style cumulative
// on output. Bounds chosen to separate loopback (<1ms), LAN, and timeout-class latencies.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBoundsMs{0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000};
  void observe(double ms) {
    size_t i = 0;
    while (i < kBoundsMs.size() && ms > kBoundsMs[i]) ++i;
    buckets_[i].inc();
    sum_us_.inc(static_cast<uint64_t>(ms * 1000.0));
  }
  uint64_t bucket(size_t i) const { return buckets_[i].value(); }  // i == kBoundsMs.size() is +Inf
  uint64_t sum_us() const { return sum_us_.value(); }

 private:
  std::array<Counter, kBoundsMs.size() + 1> buckets_;
  Counter sum_us_;
};

// Status classes 1xx..5xx at indexes 1..5 (0 unused) so `status / 100` indexes directly.
using StatusClassCounters = std::array<Counter, 6>;

inline size_t status_class(int status) {
  int c = status / 100;
  return (c >= 1 && c <= 5) ? static_cast<size_t>(c) : 5;
}

}  // namespace hop::stats
