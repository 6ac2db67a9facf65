// JSON string escaping for the hand-written JSON on hot paths (access log, the built-in
// backend's echo), where building a JSON document object per line would cost allocations.
#pragma once

#include <string>
#include <string_view>

namespace hop::core {

// Appends s as the body of a JSON string (without quotes). Everything outside printable
// ASCII is escaped: request data is attacker-chosen, and a log line must never be split
// or carry terminal escapes.
inline void append_json_escaped(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

}  // namespace hop::core
