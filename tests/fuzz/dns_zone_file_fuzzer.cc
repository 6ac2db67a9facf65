// libFuzzer target for the RFC 1035 zone file reader (config input, but a zone file can come
// from a generator or another team: it must fail with errors, never crash).
#include <cstdint>
#include <string>
#include <vector>

#include "dns/zone_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<hop::dns::ZoneFileRecord> records;
  std::vector<std::string> errors;
  std::string origin("\3hop\4test\0", 10);
  hop::dns::parse_zone_text(text, "fuzz.zone", origin, 3600, records, errors);
  for (const auto& r : records)
    if (r.owner.size() > 255 || r.rdata.size() > 65535) __builtin_trap();
  return 0;
}
