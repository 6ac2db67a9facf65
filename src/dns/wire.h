// DNS wire format (RFC 1035 §4) for an authoritative server: parsing a query and the
// constants the rest of src/dns speaks. Parsing never allocates and never reads past the
// message: every length comes from the packet and is checked against it before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hop::dns {

namespace type {
inline constexpr uint16_t kA = 1, kNS = 2, kCNAME = 5, kSOA = 6, kPTR = 12, kMX = 15, kTXT = 16,
                          kAAAA = 28, kSRV = 33, kDS = 43, kOPT = 41, kIXFR = 251, kAXFR = 252, kMAILB = 253,
                          kMAILA = 254, kANY = 255, kCAA = 257;
}
inline constexpr uint16_t kClassIN = 1, kClassANY = 255;  // ANY is QCLASS "*" (RFC 1035 §3.2.5)

namespace opcode {
inline constexpr uint8_t kQuery = 0, kNotify = 4;  // NOTIFY: RFC 1996
}

namespace rcode {
inline constexpr uint16_t kNoError = 0, kFormErr = 1, kServFail = 2, kNXDomain = 3, kNotImp = 4,
                          kRefused = 5, kNotAuth = 9,  // NOTAUTH: RFC 2136 §2.2
                          kBadVers = 16;               // BADVERS is extended (RFC 6891 §6.1.3)
}

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameWire = 255;      // RFC 1035 §3.1
inline constexpr size_t kMaxLabel = 63;
inline constexpr uint16_t kEdnsOptionClientSubnet = 8;  // RFC 7871

// A domain name in uncompressed wire form, lower-cased for lookup; `len` includes the root.
struct WireName {
  uint8_t bytes[kMaxNameWire];
  uint8_t len = 0;
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes), len}; }
};

// Reads a possibly compressed name at `pos`. Pointers must point strictly backwards, which
// rules out loops without a hop counter (every hop shrinks the position). Returns the
// position after the name in the original stream, or 0 when malformed.
size_t read_name(const uint8_t* msg, size_t msg_len, size_t pos, WireName& out);

// ECS (RFC 7871 §6) as it arrived; `address` holds the significant bytes, zero-padded.
struct ClientSubnet {
  bool present = false;
  uint16_t family = 0;  // 1 = IPv4, 2 = IPv6
  uint8_t source_prefix = 0;
  uint8_t address[16] = {};
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;          // the request's header flags word
  uint8_t opcode = 0;
  bool question_ok = false;    // question parsed: it can be echoed
  WireName qname;              // lower-cased
  const uint8_t* question = nullptr;  // the question as sent (original case), for echoing
  size_t question_len = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  bool edns = false;           // the query had an OPT, well formed or not: the answer gets one
  uint8_t edns_version = 0;
  bool dnssec_ok = false;      // DO (RFC 3225 §3), copied into the response's OPT
  uint16_t udp_payload = 512;
  ClientSubnet ecs;
};

enum class ParseResult {
  kOk,
  kDrop,      // not worth an answer: shorter than a header, or a response (QR=1)
  kFormErr,   // malformed: answer FORMERR, echoing the question when it parsed
  kNotImp,    // opcode other than QUERY and NOTIFY
  kBadVers,   // EDNS version above 0
};

// kOk is a well-formed QUERY or NOTIFY with one question. Every record is walked before
// anything is judged, so `q.edns` and `q.dnssec_ok` are set whatever else is wrong.
ParseResult parse_query(const uint8_t* msg, size_t len, Query& q);

inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t get32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
inline void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v);
}
inline uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

}  // namespace hop::dns
