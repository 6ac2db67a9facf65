// The upstream side of one request, whatever codec the client speaks: which cluster (a
// split picks by weight), which host each attempt goes to (never the failed one again when
// there is another), and the cluster-wide slots the request holds — the max_requests
// breaker and, once it retries, the retry budget. HttpConnection (HTTP/1.1 clients) and
// Exchange (HTTP/2 streams) each hold one per request, so routing to hosts, retry rules
// and their accounting are written once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "http/headers.h"
#include "proxy/access_log.h"
#include "proxy/retry.h"
#include "proxy/snapshot.h"
#include "proxy/worker_context.h"

namespace hop::upstream {
class UpstreamPool;
class H2Pool;
}  // namespace hop::upstream

namespace hop::proxy {

class UpstreamAttempts {
 public:
  // Picks the route's cluster and takes a request slot. False when the max_requests
  // breaker is full (counted as breaker_open): answer 503 overflow.
  bool begin(WorkerContext& ctx, const Snapshot& snap, const config::Route& route, std::string_view client_ip,
             const http::HeaderList& headers);
  // The next attempt's host (counted in the balancer's per-host active requests), or -1
  // when the cluster has none (counted as no_healthy).
  int pick(WorkerContext& ctx, const Snapshot& snap);
  // The pools of the picked host, for the snapshot the request started on.
  upstream::UpstreamPool& pool(WorkerContext& ctx, const Snapshot& snap) const;
  upstream::H2Pool& h2pool(WorkerContext& ctx, const Snapshot& snap) const;
  // The picked host no longer carries this attempt.
  void release_host(WorkerContext& ctx);
  // Another attempt after a failure, if the route's policy, the method, the replay copy and
  // the cluster's retry budget allow: takes the budget slot once and counts the retry. After
  // a failed connect (nothing sent) the method does not matter, and some retries cost no
  // budget (free_retry). After
  // a failed connect (nothing sent) neither the method nor, while another host is healthy,
  // the budget stands in the way.
  bool allow_retry(WorkerContext& ctx, const Snapshot& snap, FailureKind kind, int status,
                   std::string_view method, bool replay_ok, bool response_started);
  // How long to wait before the retry just allowed (none after a failed connect: nothing
  // reached the upstream, and the next attempt goes to another host).
  std::chrono::milliseconds backoff_for(FailureKind kind, uint64_t random) const;
  // A resend of a request whose pooled connection turned out dead before any response:
  // not a retry (no budget), at most kMaxStaleResends in a row.
  bool allow_stale_resend();
  // The request is over: give back its breaker and budget slots.
  void end(const Snapshot& snap);
  // Upstream fields of the access-log line.
  void describe(const Snapshot& snap, AccessLogEntry& e) const;
  void reset();

  const config::Route* route = nullptr;
  uint64_t generation = 0;   // of the snapshot the request started on
  size_t cluster = 0;        // index into the snapshot's clusters
  int host = -1;             // current attempt's host, -1 = none yet
  int last_host = -1;
  uint32_t attempts = 0;
  uint32_t retries = 0;
  // Timing of the current attempt, for the log and Server-Timing.
  double connect_ms = -1;
  double ttfb_ms = -1;
  bool reused = false;

 private:
  bool free_retry(const Snapshot& snap, bool nothing_sent, int64_t now) const;

  static constexpr uint32_t kMaxStaleResends = 2;
  uint64_t hash_ = 0;
  uint32_t stale_resends_ = 0;
  bool counted_active_ = false;  // holds a max_requests slot
  bool counted_retry_ = false;   // holds a retry-budget slot
  bool host_active_ = false;     // counted in the balancer's per-host active requests
};

}  // namespace hop::proxy
