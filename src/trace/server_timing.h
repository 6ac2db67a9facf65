// Server-Timing (W3C Server Timing, §3 "The Server-Timing header field"): the server's own
// phases, which hop trace nests under time to first byte.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hop::trace {

struct ServerTimingEntry {
  std::string name;
  std::optional<double> dur;  // milliseconds
  std::string desc;
};

// A header can list many metrics; a hostile server could send thousands. Beyond this many
// the rest are dropped: a waterfall nobody can read is no use anyway.
inline constexpr size_t kMaxServerTimingEntries = 64;

// Parses one field value (several header lines are joined with ", " first, RFC 9110 §5.3).
// Lenient like browsers: a malformed metric is skipped, the rest still count. Unknown
// parameters are ignored; only the first dur and desc of a metric count (spec §3).
void parse_server_timing(std::string_view value, std::vector<ServerTimingEntry>& out);

}  // namespace hop::trace
