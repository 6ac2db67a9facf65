// Passive outlier detection: the data path reports each upstream outcome; a host that
// fails N times in a row is ejected for base × its multiplier (which grows with each
// ejection and decays while the host stays in rotation), never more than the cluster's max
// ejection percentage at once. Ejection ends by itself when its time runs out; one for
// connect failures also ends when a health check passes (Host::healthy).
//
// Three detectors, as Envoy splits them: consecutive 5xx, consecutive gateway failures
// (connect failures, resets, timeouts) — both on when `outlier:` is configured — and
// consecutive local-origin failures (connects that failed: nothing was sent, so the host is
// gone rather than slow), on by default: a refused connect costs microseconds and says
// exactly one thing, and waiting for health checks to say it too costs thousands of
// requests a second.
#pragma once

#include <cstddef>
#include <cstdint>

#include "stats/registry.h"
#include "upstream/cluster.h"

namespace hop::upstream {

enum class Outcome {
  kSuccess,         // a response below 500
  k5xx,             // a response of 500 or more
  kConnectFailure,  // connect refused, failed or timed out; TLS handshake failed; a new
                    // connection reset before its first response byte
  kReset,           // the connection closed or reset, or the response was malformed
  kTimeout,         // the per-try or request timeout fired
};

// Returns true when this outcome ejected the host; the ejection is counted in `stats` (the
// reporting worker's block) by cause, with the time since the host's run of failures began.
bool record_outcome(const Cluster& c, size_t host, Outcome outcome, int64_t now_ms, stats::ClusterStats& stats);

// "consecutive 5xx", "consecutive gateway failures", "consecutive connect failures".
const char* ejection_reason(EjectionReason reason);

// Whether a host other than `exclude` is in rotation (health check passing, not ejected).
bool has_healthy_host_besides(const Cluster& c, int exclude, int64_t now_ms);

}  // namespace hop::upstream
