// Routing policies: which of a record's values this query gets. Runs per query on a worker,
// so it never allocates: the selection is a fixed array of pointers into the zone.
#pragma once

#include <cstdint>

#include "dns/dns_health.h"
#include "dns/geo_table.h"
#include "dns/zone.h"

namespace hop::dns {

// What the policy decided, for metrics and the query log.
enum class Decision : uint8_t {
  kNone,            // no policy record in the answer
  kSimple,
  kWeighted,
  kFailoverPrimary,
  kFailoverSecondary,
  kGeoMatch,
  kGeoDefault,
  kMultivalue,
  kAllUnhealthy,    // every choice failed its check: answer anyway (fail open, as Route 53)
  kCount
};
const char* decision_name(Decision d);

// xorshift64*: cheap, per worker, good enough to split traffic (not for secrets).
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * uint64_t(n)) >> 32); }
};

// The client as geo sees it: the ECS subnet when sent, else the source address.
struct ClientLocation {
  uint16_t family = 0;  // 0 = unknown
  const uint8_t* address = nullptr;
  bool from_ecs = false;
};

// RFC 8482 keeps ANY small; multivalue answers are capped like Route 53's.
inline constexpr size_t kMaxMultivalueAnswers = 8;
inline constexpr size_t kMaxSelected = 64;

struct Selection {
  const std::string* rdatas[kMaxSelected];
  size_t count = 0;
  Decision decision = Decision::kNone;
  bool geo_used = false;
  uint8_t geo_scope = 0;
};

void select_answers(const RRset& rrset, const GeoTable& geo, const DnsHealth& health, const ClientLocation& client,
                    Rng& rng, Selection& out);

}  // namespace hop::dns
