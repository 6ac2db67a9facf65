#include "proxy/attempts.h"

#include "proxy/router.h"
#include "upstream/balancer.h"
#include "upstream/h2_session.h"
#include "upstream/outlier_detector.h"
#include "upstream/pool.h"

namespace hop::proxy {

void UpstreamAttempts::reset() { *this = UpstreamAttempts(); }

bool UpstreamAttempts::begin(WorkerContext& ctx, const Snapshot& snap, const config::Route& r,
                             std::string_view client_ip, const http::HeaderList& headers) {
  route = &r;
  generation = snap.generation;
  const config::WeightedCluster& wc =
      r.action == config::Route::Action::kSplit ? pick_weighted(r, ctx.random()) : r.clusters[0];
  cluster = wc.cluster_index;
  const upstream::Cluster& c = snap.clusters[cluster];
  // Circuit breaker: fail fast rather than queue behind an upstream that is not keeping up.
  if (!reserve_request(c.shared(), c.config().breakers.max_requests)) {
    c.stats(ctx.index).breaker_open.inc();
    return false;
  }
  counted_active_ = true;
  if (c.config().lb == config::LbPolicy::kMaglev) {
    std::string_view key;
    switch (c.config().hash_on.kind) {
      case config::HashOn::Kind::kClientIp: key = client_ip; break;
      case config::HashOn::Kind::kHeader: key = headers.get(c.config().hash_on.name); break;
      case config::HashOn::Kind::kCookie: key = find_cookie(headers, c.config().hash_on.name); break;
    }
    hash_ = key.empty() ? ctx.random() : upstream::hash_bytes(key.data(), key.size());
  }
  return true;
}

int UpstreamAttempts::pick(WorkerContext& ctx, const Snapshot& snap) {
  const upstream::Cluster& c = snap.clusters[cluster];
  // A retry after a reload still picks among the hosts of the snapshot the request started
  // on; its host indexes mean nothing to the worker's current balancer state, so it
  // balances with scratch state.
  bool current = generation == ctx.snapshot->generation;
  upstream::ClusterState scratch(current ? 0 : c.hosts().size());
  auto& state = current ? ctx.upstreams.state(cluster) : scratch;
  upstream::PickRequest pr;
  pr.hash = hash_;
  // Any second attempt (a retry, or a resend after a stale pooled connection, which may as
  // well be a dead host) goes to another host when there is one.
  pr.exclude = attempts > 0 ? last_host : -1;
  host = upstream::pick_host(c, state, pr, core::to_ms(ctx.loop.now()));
  if (host < 0) {
    c.stats(ctx.index).no_healthy.inc();
    return -1;
  }
  last_host = host;
  ++attempts;
  ++state.active[static_cast<size_t>(host)];
  host_active_ = current;
  c.stats(ctx.index).requests.inc();
  connect_ms = ttfb_ms = -1;
  reused = false;
  return host;
}

upstream::UpstreamPool& UpstreamAttempts::pool(WorkerContext& ctx, const Snapshot& snap) const {
  const upstream::Cluster& c = snap.clusters[cluster];
  if (generation == ctx.snapshot->generation) return ctx.upstreams.pool(cluster, static_cast<size_t>(host));
  return ctx.upstreams.pool_for(c, c.hosts()[static_cast<size_t>(host)]);
}

upstream::H2Pool& UpstreamAttempts::h2pool(WorkerContext& ctx, const Snapshot& snap) const {
  const upstream::Cluster& c = snap.clusters[cluster];
  if (generation == ctx.snapshot->generation) return ctx.upstreams.h2pool(cluster, static_cast<size_t>(host));
  return ctx.upstreams.h2pool_for(c, c.hosts()[static_cast<size_t>(host)]);
}

void UpstreamAttempts::release_host(WorkerContext& ctx) {
  if (host_active_ && generation == ctx.snapshot->generation) {
    auto& state = ctx.upstreams.state(cluster);
    auto h = static_cast<size_t>(host);
    if (h < state.active.size() && state.active[h]) --state.active[h];
  }
  host_active_ = false;
}

bool UpstreamAttempts::allow_retry(WorkerContext& ctx, const Snapshot& snap, FailureKind kind, int status,
                                   std::string_view method, bool replay_ok, bool response_started) {
  const auto& policy = route->retries;
  const upstream::Cluster& c = snap.clusters[cluster];
  if (retries >= policy.attempts || response_started || !replay_ok) return false;
  if (!policy_covers(policy, kind, status)) return false;
  // A connect that failed sent nothing: the method's idempotency (RFC 9110 §9.2.2) is about
  // requests that may have been acted on, so any request may go again.
  bool nothing_sent = kind == FailureKind::kConnectFailure || kind == FailureKind::kRefused;
  if (!nothing_sent && !policy.retry_non_idempotent && !is_idempotent(method)) return false;
  if (!counted_retry_ && !free_retry(snap, nothing_sent, core::to_ms(ctx.loop.now()))) {
    if (!reserve_retry(policy, c.shared(), c.config().breakers)) {
      c.stats(ctx.index).retry_overflow.inc();
      return false;
    }
    counted_retry_ = true;
  }
  ++retries;
  c.stats(ctx.index).retries.inc();
  return true;
}

// The budget stops retries from multiplying the load on a cluster that is failing. Two
// retries cannot do that, so they are not charged to it while another host is in rotation:
// one after a connect that sent nothing (no load reached the failed host), and one whose
// failed host is out of rotation now (ejected, or failing its health check) — the request
// would have gone to a healthy host had the ejection come a moment earlier, and an ejected
// host gets no new requests, so these are a burst bounded by what was in flight to it, not
// a storm. Without them, one dead host of two is an error for every request that picked it
// before its ejection. When every host fails, at most max_ejection_percent of them are
// ejected; failures of the rest are charged as before.
bool UpstreamAttempts::free_retry(const Snapshot& snap, bool nothing_sent, int64_t now) const {
  const upstream::Cluster& c = snap.clusters[cluster];
  if (last_host < 0 || static_cast<size_t>(last_host) >= c.hosts().size()) return false;
  if (!nothing_sent && c.hosts()[static_cast<size_t>(last_host)].healthy(now)) return false;
  return upstream::has_healthy_host_besides(c, last_host, now);
}

std::chrono::milliseconds UpstreamAttempts::backoff_for(FailureKind kind, uint64_t random) const {
  if (kind == FailureKind::kConnectFailure || kind == FailureKind::kRefused) return std::chrono::milliseconds(0);
  return backoff(route->retries, retries, random);
}

bool UpstreamAttempts::allow_stale_resend() {
  if (stale_resends_ >= kMaxStaleResends) return false;
  ++stale_resends_;
  return true;
}

void UpstreamAttempts::end(const Snapshot& snap) {
  if (!counted_active_) return;
  // Counters of the snapshot this request started on: the ClusterShared outlives reloads.
  auto& shared = snap.clusters[cluster].shared();
  shared.active_requests.fetch_sub(1, std::memory_order_relaxed);
  if (counted_retry_) shared.active_retries.fetch_sub(1, std::memory_order_relaxed);
  counted_active_ = counted_retry_ = false;
}

void UpstreamAttempts::describe(const Snapshot& snap, AccessLogEntry& e) const {
  if (host < 0) return;
  const auto& c = snap.clusters[cluster];
  e.cluster = c.name();
  e.upstream_host = c.hosts()[static_cast<size_t>(host)].name;
  e.upstream_connect_ms = connect_ms;
  e.upstream_ttfb_ms = ttfb_ms;
  e.upstream_reused = reused;
  e.attempts = attempts;
}

}  // namespace hop::proxy
