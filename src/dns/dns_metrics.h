// Per-worker DNS counters. One writer (the worker) uses plain load+store on relaxed atomics,
// which costs the same as a non-atomic increment; the admin thread reads them racily but
// never tears a value.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/policy.h"

namespace hop::dns {

class DnsMetrics {
 public:
  // qtype buckets: the types hop serves, then "other".
  static constexpr uint16_t kQtypes[] = {1, 2, 5, 6, 12, 15, 16, 28, 33, 255, 257};
  static constexpr size_t kQtypeBuckets = sizeof(kQtypes) / sizeof(kQtypes[0]) + 1;
  static constexpr size_t kRcodeBuckets = 17;  // 0..15 plus BADVERS (16)

  void count_query(uint16_t qtype, uint16_t rcode, Decision decision, bool tcp, bool truncated, bool referral,
                   bool wildcard) {
    bump(by_qtype_[qtype_bucket(qtype)]);
    bump(by_rcode_[rcode < kRcodeBuckets ? rcode : kRcodeBuckets - 1]);
    if (decision != Decision::kNone) bump(by_decision_[size_t(decision)]);
    bump(tcp ? tcp_queries_ : udp_queries_);
    if (truncated) bump(truncated_);
    if (referral) bump(referrals_);
    if (wildcard) bump(wildcard_answers_);
  }
  void count_dropped() { bump(dropped_); }
  void count_tcp_rejected() { bump(tcp_rejected_); }  // over tcp.max_connections
  void count_tcp_idle_closed() { bump(tcp_idle_closed_); }
  uint64_t tcp_queries() const { return tcp_queries_.load(std::memory_order_relaxed); }

 private:
  friend void render_dns_metrics(const std::vector<const DnsMetrics*>& workers, std::string& out);
  using Counter = std::atomic<uint64_t>;
  static void bump(Counter& c) { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  static size_t qtype_bucket(uint16_t t) {
    for (size_t i = 0; i + 1 < kQtypeBuckets; ++i)
      if (kQtypes[i] == t) return i;
    return kQtypeBuckets - 1;
  }

  Counter by_qtype_[kQtypeBuckets] = {};
  Counter by_rcode_[kRcodeBuckets] = {};
  Counter by_decision_[size_t(Decision::kCount)] = {};
  Counter udp_queries_{0}, tcp_queries_{0}, truncated_{0}, dropped_{0}, tcp_rejected_{0}, tcp_idle_closed_{0};
  Counter referrals_{0}, wildcard_answers_{0};
};

// Prometheus text exposition, summed over workers; hop_dns_* names.
void render_dns_metrics(const std::vector<const DnsMetrics*>& workers, std::string& out);

}  // namespace hop::dns
