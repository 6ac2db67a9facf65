#include "trace/traceparent.h"

#include <openssl/rand.h>

#include <chrono>
#include <vector>

namespace hop::trace {

std::string random_hex_id(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    // Uniqueness, not secrecy, is what a trace id needs; the clock is enough as a fallback.
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    for (size_t i = 0; i < bytes; ++i) raw[i] = static_cast<unsigned char>(now >> ((i % 8) * 8));
  }
  bool all_zero = true;
  for (auto b : raw) all_zero = all_zero && b == 0;
  if (all_zero) raw.back() = 1;
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (auto b : raw) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

TraceparentSource::TraceparentSource() : trace_id_(random_hex_id(16)) {}

std::string TraceparentSource::next() { return "00-" + trace_id_ + "-" + random_hex_id(8) + "-01"; }

}  // namespace hop::trace
