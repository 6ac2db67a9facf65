// The authoritative answer path: one query in, one response out, into a fixed buffer.
// Pure function of (config, its answers' health, query, client): the server and the fuzzer
// call it the same way.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "dns/dns_config.h"
#include "dns/dns_health.h"
#include "dns/policy.h"
#include "dns/wire.h"

namespace hop::dns {

// What happened, for metrics and the query log.
struct AnswerInfo {
  bool dropped = false;
  bool truncated = false;
  bool referral = false;  // below a zone cut: the child's name servers, not an answer
  bool wildcard = false;  // some of the answer was synthesized from a wildcard
  uint16_t rcode = 0;     // including extended (BADVERS = 16)
  uint16_t qtype = 0;
  Decision decision = Decision::kNone;
  const Query* query = nullptr;  // valid until the next call with the same Query
};

// A response for TCP may use the whole 64 KiB; over UDP the limit comes from EDNS.
inline constexpr size_t kMaxTcpMessage = 65535;

// Returns the response length, or 0 when the query is dropped. `out` must hold `out_cap`
// bytes (kMaxTcpMessage for TCP; udp_payload is enough for UDP).
size_t answer_query(const DnsConfig& cfg, const DnsHealth& health, const uint8_t* in, size_t in_len,
                    const sockaddr* client, bool tcp, Rng& rng, Query& scratch, uint8_t* out, size_t out_cap,
                    AnswerInfo& info);

}  // namespace hop::dns
