#include "dns/zone.h"

namespace hop::dns {

bool name_is_under(std::string_view name, std::string_view origin) {
  if (name.size() < origin.size()) return false;
  size_t pos = 0;
  while (name.size() - pos > origin.size()) pos += 1 + static_cast<uint8_t>(name[pos]);
  return name.size() - pos == origin.size() && name.substr(pos) == origin;
}

bool Zone::contains(std::string_view name) const { return name_is_under(name, origin); }

}  // namespace hop::dns
