// What the built-in backend answers to a request, whatever protocol it came in: the same
// paths (/health, /status/N, /delay/MS, /bytes/N, /trailers, anything else = echo) for
// HTTP/1.1 and HTTP/2, so tests see one behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/headers.h"

namespace hop::backend {

// The /bytes/N payload is cut from this 64 KiB block, so generating a body costs no work.
const char* pattern_block();
constexpr size_t kPatternBlockSize = 64 * 1024;

struct ResponsePlan {
  enum class Kind { kEcho, kHealth, kBytes };
  Kind kind = Kind::kEcho;
  int status = 200;
  uint64_t delay_ms = 0;
  uint64_t bytes = 0;      // kBytes: body length
  bool trailers = false;   // /trailers: an echo that ends with trailers (HTTP/2 only)
  std::string echo;        // kEcho: the JSON up to the body count (finish_echo closes it)

  std::string_view content_type() const {
    return kind == Kind::kBytes ? "application/octet-stream" : kind == Kind::kEcho ? "application/json" : "text/plain";
  }
  // The complete body for kEcho / kHealth once the request body has been counted.
  std::string finish_body(uint64_t body_bytes);
};

// Field names are lowercased in the echo. fail_status (fault injection) replaces every
// answer but /health.
template <typename Headers>
ResponsePlan plan_response(std::string_view backend_name, std::string_view method, std::string_view target,
                           std::string_view peer_ip, const Headers& headers, int fail_status);

bool no_body_status(int status);
std::string_view reason(int status);

}  // namespace hop::backend
