// RFC 1035 §5 master files: $ORIGIN, $TTL, parentheses, comments, quoted strings, omitted
// owner/TTL/class. $INCLUDE and $GENERATE are refused (a zone is one file here).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hop::dns {

struct ZoneFileRecord {
  std::string owner;  // lower-cased wire form
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string rdata;  // wire form
  int line = 0;
};

// Parses `text` (the content of `file_name`, used in errors) with origin `origin_wire`.
// Errors are "file:line: message" strings; parsing continues past a bad record.
bool parse_zone_text(const std::string& text, const std::string& file_name, const std::string& origin_wire,
                     uint32_t default_ttl, std::vector<ZoneFileRecord>& out, std::vector<std::string>& errors);

}  // namespace hop::dns
