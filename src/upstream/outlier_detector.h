// Passive outlier detection: the data path reports each upstream outcome; a host that
// fails N times in a row is ejected for base × (ejections so far), never more than the
// cluster's max ejection percentage at once. Ejection ends by itself when its time runs out.
#pragma once

#include <cstddef>
#include <cstdint>

#include "upstream/cluster.h"

namespace hop::upstream {

enum class Outcome { kSuccess, k5xx, kGatewayFailure };

// Returns true when this outcome ejected the host.
bool record_outcome(const Cluster& c, size_t host, Outcome outcome, int64_t now_ms);

const char* ejection_reason(uint32_t code);

}  // namespace hop::upstream
