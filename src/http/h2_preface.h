// RFC 9113 §3.4: the bytes a client with prior knowledge of HTTP/2 sends first. The
// HTTP/1.1 codecs (proxy and backend) look for them to hand a cleartext connection to the
// HTTP/2 codec (h2c on the HTTP/1.1 port).
#pragma once

#include <string_view>

namespace hop::http {

inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// True when `bytes` is the preface, or as much of it as has arrived (then read on until
// bytes.size() >= kH2Preface.size()).
inline bool maybe_h2_preface(std::string_view bytes) {
  size_t n = bytes.size() < kH2Preface.size() ? bytes.size() : kH2Preface.size();
  return bytes.substr(0, n) == kH2Preface.substr(0, n);
}

}  // namespace hop::http
