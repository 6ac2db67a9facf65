// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/ §3.2): every traced
// request carries one so the server side's logs and Server-Timing can be matched to it.
#pragma once

#include <string>

namespace hop::trace {

class TraceparentSource {
 public:
  // One trace-id per run: the requests of `-n` are spans of one trace.
  TraceparentSource();
  // "00-<trace-id>-<new parent-id>-01" (version 00, sampled flag set).
  std::string next();
  const std::string& trace_id() const { return trace_id_; }

 private:
  std::string trace_id_;
};

// Random lowercase hex of `bytes` bytes, never all zero (an all-zero id is invalid, §3.2.2.3).
std::string random_hex_id(size_t bytes);

}  // namespace hop::trace
