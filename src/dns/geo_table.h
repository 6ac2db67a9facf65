// Client subnet → location, for geo policy records. Longest prefix wins; the table is small
// (a config list), so a scan in prefix-length order is faster than a trie here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hop::dns {

class GeoTable {
 public:
  struct Match {
    int location = -1;  // -1: no entry covers the client
    uint8_t prefix = 0; // the matched entry's length: the ECS scope to return (RFC 7871 §7.2.1)
  };

  // Returns the location index (creating it) for a name from the config.
  int location_index(const std::string& name);
  int find_location(const std::string& name) const;
  const std::string& location_name(int index) const { return locations_[index]; }
  // family 1 = IPv4 (4 address bytes), 2 = IPv6 (16 bytes), as in ECS.
  bool add(uint16_t family, const uint8_t* address, uint8_t prefix, int location);
  // Parses "192.0.2.0/24" or "2001:db8::/32".
  bool add_cidr(const std::string& cidr, int location);
  Match lookup(uint16_t family, const uint8_t* address) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    uint16_t family;
    uint8_t prefix;
    uint8_t address[16];
    int location;
  };
  std::vector<Entry> entries_;  // longest prefix first
  std::vector<std::string> locations_;
};

}  // namespace hop::dns
