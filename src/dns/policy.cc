#include "dns/policy.h"

namespace hop::dns {

const char* decision_name(Decision d) {
  switch (d) {
    case Decision::kNone: return "none";
    case Decision::kSimple: return "simple";
    case Decision::kWeighted: return "weighted";
    case Decision::kFailoverPrimary: return "failover_primary";
    case Decision::kFailoverSecondary: return "failover_secondary";
    case Decision::kGeoMatch: return "geo_match";
    case Decision::kGeoDefault: return "geo_default";
    case Decision::kMultivalue: return "multivalue";
    case Decision::kAllUnhealthy: return "all_unhealthy";
    default: return "unknown";
  }
}

namespace {

void take(const PolicyChoice& c, Selection& out) {
  for (const auto& r : c.rdatas) {
    if (out.count == kMaxSelected) return;
    out.rdatas[out.count++] = &r;
  }
}

void select_weighted(const RRset& rs, const DnsHealth& health, Rng& rng, Selection& out) {
  uint64_t total = 0;
  size_t healthy = 0;
  for (const auto& c : rs.choices) {
    if (!health.healthy(c.health)) continue;
    ++healthy;
    total += c.weight;
  }
  out.decision = Decision::kWeighted;
  bool use_health = healthy > 0;
  if (!use_health) {
    out.decision = Decision::kAllUnhealthy;
    for (const auto& c : rs.choices) total += c.weight;
  }
  // All weights zero: weight 0 only means "out of rotation" while something else is in it.
  bool uniform = total == 0;
  uint64_t n = uniform ? (use_health ? healthy : rs.choices.size()) : total;
  uint64_t pick = rng.below(static_cast<uint32_t>(n));
  for (const auto& c : rs.choices) {
    if (use_health && !health.healthy(c.health)) continue;
    uint64_t w = uniform ? 1 : c.weight;
    if (pick < w) return take(c, out);
    pick -= w;
  }
}

void select_failover(const RRset& rs, const DnsHealth& health, Selection& out) {
  const PolicyChoice* primary = nullptr;
  const PolicyChoice* secondary = nullptr;
  for (const auto& c : rs.choices) (c.primary ? primary : secondary) = &c;
  if (primary && health.healthy(primary->health)) {
    out.decision = Decision::kFailoverPrimary;
    return take(*primary, out);
  }
  if (secondary && health.healthy(secondary->health)) {
    out.decision = Decision::kFailoverSecondary;
    return take(*secondary, out);
  }
  // Both down: the primary is the better guess, and an empty answer would help no one.
  out.decision = Decision::kAllUnhealthy;
  take(primary ? *primary : *secondary, out);
}

void select_geo(const RRset& rs, const GeoTable& geo, const DnsHealth& health, const ClientLocation& client,
                Selection& out) {
  GeoTable::Match m;
  if (client.family) m = geo.lookup(client.family, client.address);
  out.geo_used = true;
  out.geo_scope = m.prefix;
  const PolicyChoice* fallback = nullptr;
  for (const auto& c : rs.choices) {
    if (c.location < 0) fallback = &c;
    else if (m.location >= 0 && c.location == m.location && health.healthy(c.health)) {
      out.decision = Decision::kGeoMatch;
      return take(c, out);
    }
  }
  out.decision = Decision::kGeoDefault;
  if (fallback) take(*fallback, out);
}

void select_multivalue(const RRset& rs, const DnsHealth& health, Rng& rng, Selection& out) {
  out.decision = Decision::kMultivalue;
  bool any_healthy = false;
  for (const auto& c : rs.choices) any_healthy |= health.healthy(c.health);
  if (!any_healthy) out.decision = Decision::kAllUnhealthy;
  for (const auto& c : rs.choices) {
    if (any_healthy && !health.healthy(c.health)) continue;
    for (const auto& r : c.rdatas) {
      if (out.count < kMaxSelected) out.rdatas[out.count++] = &r;
    }
  }
  // Fisher-Yates over the candidates, then keep the first eight: every healthy value gets an
  // equal chance of being in the answer and of being first.
  for (size_t i = out.count; i > 1; --i) {
    size_t j = rng.below(static_cast<uint32_t>(i));
    std::swap(out.rdatas[i - 1], out.rdatas[j]);
  }
  if (out.count > kMaxMultivalueAnswers) out.count = kMaxMultivalueAnswers;
}

}  // namespace

void select_answers(const RRset& rs, const GeoTable& geo, const DnsHealth& health, const ClientLocation& client,
                    Rng& rng, Selection& out) {
  out.count = 0;
  switch (rs.policy) {
    case Policy::kSimple:
      out.decision = Decision::kSimple;
      for (const auto& r : rs.rdatas) {
        if (out.count == kMaxSelected) break;
        out.rdatas[out.count++] = &r;
      }
      return;
    case Policy::kWeighted: return select_weighted(rs, health, rng, out);
    case Policy::kFailover: return select_failover(rs, health, out);
    case Policy::kGeo: return select_geo(rs, geo, health, client, out);
    case Policy::kMultivalue: return select_multivalue(rs, health, rng, out);
  }
}

}  // namespace hop::dns
