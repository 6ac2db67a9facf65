// Zone data as the answer path reads it: immutable after parse, shared by all workers.
// Names are kept as lower-cased uncompressed wire strings so a lookup is one hash probe
// with the query's already lower-cased name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/wire.h"

namespace hop::dns {

enum class Policy : uint8_t { kSimple, kWeighted, kFailover, kGeo, kMultivalue };

// One alternative of a policy record: the values it answers with and what decides it.
struct PolicyChoice {
  std::vector<std::string> rdatas;  // wire form
  uint32_t weight = 1;              // weighted
  bool primary = true;              // failover
  int location = -1;                // geo: index into GeoTable locations; -1 = the default answer
  int32_t health = -1;              // index into DnsConfig::health_sources; -1 = always healthy
  std::string description;          // "10.0.0.1" for logs
};

struct RRset {
  uint16_t type = 0;
  uint32_t ttl = 0;
  Policy policy = Policy::kSimple;
  std::vector<std::string> rdatas;     // simple
  std::vector<PolicyChoice> choices;   // every other policy
};

struct ZoneNode {
  std::vector<RRset> rrsets;  // empty: an empty non-terminal, which exists (NODATA, not NXDOMAIN)
  const RRset* find(uint16_t type) const {
    for (const auto& r : rrsets)
      if (r.type == type) return &r;
    return nullptr;
  }
};

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct NameEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

struct Zone {
  std::string origin;       // lower-cased wire form
  std::string origin_text;  // "hop.test."
  std::string soa_rdata;    // wire form, for negative answers
  uint32_t negative_ttl = 0;  // RFC 2308 §5: min(SOA TTL, SOA MINIMUM)
  std::unordered_map<std::string, ZoneNode, NameHash, NameEq> nodes;
  bool has_wildcards = false;  // some owner's first label is "*" (RFC 4592)
  bool has_cuts = false;       // NS records below the apex: delegations (RFC 1034 §4.2.1)

  const ZoneNode* find(std::string_view name) const {
    auto it = nodes.find(name);
    return it == nodes.end() ? nullptr : &it->second;
  }
  // True when `name` (lower-cased wire) is the origin or below it.
  bool contains(std::string_view name) const;
  // The delegation that `name` (in this zone) is at or below: the node nearest the apex,
  // apex excluded, with an NS RRset; its owner goes to `cut`. nullptr when there is none.
  const ZoneNode* find_cut(std::string_view name, std::string_view& cut) const;
  // The wildcard that answers for `name`, which has no node of its own: "*" under the
  // name's closest encloser (RFC 4592 §3.3.1), or nullptr.
  const ZoneNode* find_wildcard(std::string_view name) const;
};

// True when the first label of a wire name is "*".
inline bool is_wildcard_name(std::string_view name) { return name.size() >= 2 && name[0] == 1 && name[1] == '*'; }

// Label-boundary suffix test on wire names.
bool name_is_under(std::string_view name, std::string_view origin);

}  // namespace hop::dns
