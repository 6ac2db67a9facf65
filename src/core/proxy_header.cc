#include "core/proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace hop::core {

namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr std::string_view kV1Prefix = "PROXY ";

// A decimal port: 1-5 digits, no sign, no leading zero except "0" itself, at most 65535.
bool parse_port(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint32_t(c - '0');
  }
  if (v > 65535) return false;
  port = uint16_t(v);
  return true;
}

// An IPv4 client that a dual-stack balancer names as ::ffff:a.b.c.d is the same client as
// a.b.c.d: one form for X-Forwarded-For, the access log and client-IP hashing.
void unmap_v4(Address& a) {
  if (a.family() != AF_INET6) return;
  const auto& s6 = *reinterpret_cast<const sockaddr_in6*>(&a.storage);
  if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) return;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = s6.sin6_port;
  std::memcpy(&sin.sin_addr, s6.sin6_addr.s6_addr + 12, 4);
  a = Address{};
  std::memcpy(&a.storage, &sin, sizeof sin);
  a.len = sizeof sin;
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n", "PROXY TCP6 ...", "PROXY UNKNOWN ...".
ProxyHeaderResult parse_v1(const char* data, size_t len, ProxyHeader& out) {
  std::string_view all(data, len < kMaxProxyV1Length ? len : kMaxProxyV1Length);
  size_t end = all.find("\r\n");
  if (end == std::string_view::npos) {
    // A CR or LF alone, or no end within the bound, can never become a valid line.
    if (all.find_first_of("\r\n") != std::string_view::npos && all.back() != '\r') return ProxyHeaderResult::kError;
    return len >= kMaxProxyV1Length ? ProxyHeaderResult::kError : ProxyHeaderResult::kIncomplete;
  }
  std::string_view line = all.substr(kV1Prefix.size(), end - kV1Prefix.size());
  if (!line.empty() && line.back() == ' ') return ProxyHeaderResult::kError;  // single spaces only
  std::string_view f[5];
  size_t n = 0;
  while (!line.empty() && n < 5) {
    size_t sp = line.find(' ');
    f[n++] = line.substr(0, sp);
    if (sp == std::string_view::npos) {
      line = {};
      break;
    }
    line.remove_prefix(sp + 1);
  }
  out = ProxyHeader{};
  out.length = end + 2;
  if (n >= 1 && f[0] == "UNKNOWN") return ProxyHeaderResult::kOk;  // the rest is ignored by the spec
  if (n != 5 || !line.empty() || (f[0] != "TCP4" && f[0] != "TCP6")) return ProxyHeaderResult::kError;
  uint16_t sport = 0, dport = 0;
  if (!parse_port(f[3], sport) || !parse_port(f[4], dport)) return ProxyHeaderResult::kError;
  int family = f[0] == "TCP4" ? AF_INET : AF_INET6;
  char ip[INET6_ADDRSTRLEN + 1];
  unsigned char bin[sizeof(in6_addr)];
  for (int k : {1, 2}) {  // both addresses must be valid for the family, even if only one is used
    if (f[k].empty() || f[k].size() > INET6_ADDRSTRLEN ||
        f[k].find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
      return ProxyHeaderResult::kError;  // (inet_pton would stop at a NUL and accept the rest)
    std::memcpy(ip, f[k].data(), f[k].size());
    ip[f[k].size()] = '\0';
    if (inet_pton(family, ip, bin) != 1) return ProxyHeaderResult::kError;
  }
  auto src = Address::from_ip(f[1], sport);
  if (!src) return ProxyHeaderResult::kError;
  out.source = *src;
  unmap_v4(out.source);
  out.has_source = true;
  return ProxyHeaderResult::kOk;
}

ProxyHeaderResult parse_v2(const uint8_t* p, size_t len, ProxyHeader& out) {
  if (len < 16) return ProxyHeaderResult::kIncomplete;
  uint8_t version = p[12] >> 4, command = p[12] & 0x0F;
  if (version != 2 || command > 1) return ProxyHeaderResult::kError;
  size_t body = size_t(p[14]) << 8 | p[15];
  if (body > kMaxProxyV2Length) return ProxyHeaderResult::kError;
  if (len < 16 + body) return ProxyHeaderResult::kIncomplete;
  out = ProxyHeader{};
  out.length = 16 + body;
  uint8_t family = p[13] >> 4, transport = p[13] & 0x0F;
  // The spec's pairs only: UNSPEC/UNSPEC, or INET, INET6, UNIX over STREAM or DGRAM.
  bool known = p[13] == 0x00 || (family >= 1 && family <= 3 && (transport == 1 || transport == 2));
  if (!known) return ProxyHeaderResult::kError;
  if (command == 0) return ProxyHeaderResult::kOk;  // LOCAL: the balancer's own connection
  if (transport != 1) return ProxyHeaderResult::kOk;  // not TCP (UNSPEC, UDP): nothing to relay
  const uint8_t* a = p + 16;
  if (family == 1) {  // IPv4: src(4) dst(4) sport(2) dport(2)
    if (body < 12) return ProxyHeaderResult::kError;
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    std::memcpy(&sin.sin_addr, a, 4);
    std::memcpy(&sin.sin_port, a + 8, 2);  // network order on the wire and in sockaddr
    std::memcpy(&out.source.storage, &sin, sizeof sin);
    out.source.len = sizeof sin;
    out.has_source = true;
  } else if (family == 2) {  // IPv6: src(16) dst(16) sport(2) dport(2)
    if (body < 36) return ProxyHeaderResult::kError;
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    std::memcpy(&sin6.sin6_addr, a, 16);
    std::memcpy(&sin6.sin6_port, a + 32, 2);
    std::memcpy(&out.source.storage, &sin6, sizeof sin6);
    out.source.len = sizeof sin6;
    unmap_v4(out.source);
    out.has_source = true;
  }  // UNIX (3): keep the socket's address
  return ProxyHeaderResult::kOk;
}

}  // namespace

ProxyHeaderResult parse_proxy_header(const char* data, size_t len, ProxyHeader& out) {
  if (len == 0) return ProxyHeaderResult::kIncomplete;
  if (data[0] == 'P') {
    size_t k = len < kV1Prefix.size() ? len : kV1Prefix.size();
    if (std::memcmp(data, kV1Prefix.data(), k) != 0) return ProxyHeaderResult::kError;
    if (len < kV1Prefix.size()) return ProxyHeaderResult::kIncomplete;
    return parse_v1(data, len, out);
  }
  size_t k = len < sizeof kV2Signature ? len : sizeof kV2Signature;
  if (std::memcmp(data, kV2Signature, k) != 0) return ProxyHeaderResult::kError;
  return parse_v2(reinterpret_cast<const uint8_t*>(data), len, out);
}

}  // namespace hop::core
