#include "dns/geo_table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace hop::dns {

int GeoTable::location_index(const std::string& name) {
  int i = find_location(name);
  if (i >= 0) return i;
  locations_.push_back(name);
  return static_cast<int>(locations_.size() - 1);
}

int GeoTable::find_location(const std::string& name) const {
  for (size_t i = 0; i < locations_.size(); ++i)
    if (locations_[i] == name) return static_cast<int>(i);
  return -1;
}

bool GeoTable::add(uint16_t family, const uint8_t* address, uint8_t prefix, int location) {
  size_t bytes = family == 1 ? 4 : 16;
  if (prefix > bytes * 8) return false;
  Entry e{family, prefix, {}, location};
  std::memcpy(e.address, address, bytes);
  // Canonicalise host bits away so "192.0.2.7/24" matches like "192.0.2.0/24".
  for (size_t i = 0; i < 16; ++i) {
    int keep = std::clamp<int>(int(prefix) - int(i) * 8, 0, 8);
    e.address[i] &= static_cast<uint8_t>(0xFF00 >> keep);
  }
  auto at = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& x) { return x.prefix < prefix; });
  entries_.insert(at, e);
  return true;
}

bool GeoTable::add_cidr(const std::string& cidr, int location) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  std::string ip = cidr.substr(0, slash);
  unsigned prefix = 0;
  auto [p, ec] = std::from_chars(cidr.data() + slash + 1, cidr.data() + cidr.size(), prefix);
  if (ec != std::errc() || p != cidr.data() + cidr.size()) return false;
  uint8_t buf[16] = {};
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return prefix <= 32 && add(1, buf, uint8_t(prefix), location);
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return prefix <= 128 && add(2, buf, uint8_t(prefix), location);
  return false;
}

GeoTable::Match GeoTable::lookup(uint16_t family, const uint8_t* address) const {
  for (const Entry& e : entries_) {
    if (e.family != family) continue;
    size_t full = e.prefix / 8;
    if (std::memcmp(e.address, address, full) != 0) continue;
    if (e.prefix % 8) {
      uint8_t mask = static_cast<uint8_t>(0xFF00 >> (e.prefix % 8));
      if ((address[full] & mask) != e.address[full]) continue;
    }
    return {e.location, e.prefix};
  }
  return {};
}

}  // namespace hop::dns
