#include "dns/zone.h"

#include <cstring>
#include <iterator>

namespace hop::dns {

bool name_is_under(std::string_view name, std::string_view origin) {
  if (name.size() < origin.size()) return false;
  size_t pos = 0;
  while (name.size() - pos > origin.size()) pos += 1 + static_cast<uint8_t>(name[pos]);
  return name.size() - pos == origin.size() && name.substr(pos) == origin;
}

bool Zone::contains(std::string_view name) const { return name_is_under(name, origin); }

namespace {
// Where each label of `name` below the apex starts, the name itself first; returns how
// many. Walks go from the apex down through them in reverse: every ancestor of a node
// exists (empty non-terminals are nodes), so the first missing one ends a walk, and a
// long made-up name costs a probe or two instead of one hash of every suffix.
size_t labels_below_apex(std::string_view name, size_t apex_size, uint8_t (&starts)[kMaxNameWire / 2 + 1]) {
  size_t n = 0;
  for (size_t pos = 0; pos + apex_size < name.size() && n < std::size(starts);
       pos += 1 + static_cast<uint8_t>(name[pos]))
    starts[n++] = static_cast<uint8_t>(pos);
  return n;
}
}  // namespace

const ZoneNode* Zone::find_cut(std::string_view name, std::string_view& cut) const {
  if (!has_cuts) return nullptr;
  uint8_t starts[kMaxNameWire / 2 + 1];
  // From the apex down: the first cut met is the one that counts (what lies below it
  // belongs to the child zone, further cuts included).
  for (size_t k = labels_below_apex(name, origin.size(), starts); k-- > 0;) {
    auto it = nodes.find(name.substr(starts[k]));
    if (it == nodes.end()) return nullptr;
    if (it->second.find(type::kNS)) {
      cut = it->first;
      return &it->second;
    }
  }
  return nullptr;
}

const ZoneNode* Zone::find_wildcard(std::string_view name) const {
  if (!has_wildcards) return nullptr;
  // The closest encloser: the longest existing proper ancestor (empty non-terminals exist,
  // so "a.b" with only "x.a.b" below it is never answered by "*.b"). The apex always exists.
  uint8_t starts[kMaxNameWire / 2 + 1];
  std::string_view v = origin;
  for (size_t k = labels_below_apex(name, origin.size(), starts); k-- > 1;) {
    std::string_view ancestor = name.substr(starts[k]);
    if (nodes.find(ancestor) == nodes.end()) break;
    v = ancestor;
  }
  char source[kMaxNameWire];
  if (v.size() + 2 > sizeof source) return nullptr;
  source[0] = 1;
  source[1] = '*';
  std::memcpy(source + 2, v.data(), v.size());
  return find(std::string_view(source, v.size() + 2));
}

}  // namespace hop::dns
