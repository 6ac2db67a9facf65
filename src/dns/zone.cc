#include "dns/zone.h"

#include <cstring>

namespace hop::dns {

bool name_is_under(std::string_view name, std::string_view origin) {
  if (name.size() < origin.size()) return false;
  size_t pos = 0;
  while (name.size() - pos > origin.size()) pos += 1 + static_cast<uint8_t>(name[pos]);
  return name.size() - pos == origin.size() && name.substr(pos) == origin;
}

bool Zone::contains(std::string_view name) const { return name_is_under(name, origin); }

const ZoneNode* Zone::find_cut(std::string_view name, std::string_view& cut) const {
  if (!has_cuts) return nullptr;
  const ZoneNode* found = nullptr;
  // Every suffix below the apex; the last one found is the highest, which is the cut that
  // counts: what lies below it belongs to the child zone, further cuts included.
  for (std::string_view v = name; v.size() > origin.size(); v.remove_prefix(1 + static_cast<uint8_t>(v[0]))) {
    auto it = nodes.find(v);
    if (it != nodes.end() && it->second.find(type::kNS)) {
      found = &it->second;
      cut = it->first;
    }
  }
  return found;
}

const ZoneNode* Zone::find_wildcard(std::string_view name) const {
  if (!has_wildcards) return nullptr;
  // The closest encloser: the longest existing ancestor (empty non-terminals exist, so
  // "a.b" with only "x.a.b" below it is never answered by "*.b"). The apex always exists.
  std::string_view v = name;
  while (v.size() > origin.size()) {
    v.remove_prefix(1 + static_cast<uint8_t>(v[0]));
    if (nodes.find(v) != nodes.end()) break;
  }
  char source[kMaxNameWire];
  if (v.size() + 2 > sizeof source) return nullptr;
  source[0] = 1;
  source[1] = '*';
  std::memcpy(source + 2, v.data(), v.size());
  return find(std::string_view(source, v.size() + 2));
}

}  // namespace hop::dns
