// The target of a trace: only what an HTTP client needs from a URL (RFC 3986 §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hop::trace {

struct Url {
  bool tls = false;       // https
  std::string host;       // without IPv6 brackets
  uint16_t port = 0;      // explicit or the scheme's default
  std::string target;     // path and query, at least "/"; the fragment is dropped (§3.5)

  // Host header value (RFC 9110 §7.2): brackets for IPv6, port only when not the default.
  std::string authority() const;
};

// Parses http:// and https:// URLs; on failure returns nullopt and sets error.
std::optional<Url> parse_url(std::string_view text, std::string& error);

}  // namespace hop::trace
