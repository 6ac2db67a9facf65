// What one traced request measured: the phases of its life and what each phase found.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trace/server_timing.h"

namespace hop::trace {

// The phase a request was in when it failed; kNone when it succeeded.
enum class Phase { kNone, kDns, kConnect, kTls, kSend, kTtfb, kTransfer, kHttp };
const char* phase_name(Phase p);

struct DnsInfo {
  std::string source;     // "literal", "--resolve", "/etc/hosts", "cache", "dns"
  std::string resolver;   // "127.0.0.1:53" when a DNS server answered
  std::vector<std::string> addresses;
  int ttl = -1;           // seconds, from the answer; -1 when not from DNS
  bool cached = false;    // served without asking a DNS server
};

struct TlsInfo {
  std::string version;    // "TLSv1.3"
  std::string cipher;
  std::string alpn;       // "" when none was negotiated
  bool resumed = false;
  std::string subject;    // leaf certificate subject, one line
  std::string issuer;
  std::string not_after;  // "2027-01-01 00:00:00 UTC"
};

struct RequestTrace {
  int index = 0;          // 1-based, for -n
  std::string url;
  std::string method;
  std::string protocol;   // "HTTP/1.1" or "HTTP/2"
  std::string traceparent;
  std::string remote_addr;
  bool reused = false;    // carried on a connection opened by an earlier request

  // Milliseconds; 0 for a phase that did not happen (reuse, plain HTTP, literal address).
  double dns_ms = 0, connect_ms = 0, tls_ms = 0, send_ms = 0, ttfb_ms = 0, transfer_ms = 0,
         total_ms = 0;

  DnsInfo dns;
  TlsInfo tls;             // empty version for plain HTTP
  bool tls_used = false;

  int status = 0;
  std::string reason;
  uint64_t bytes = 0;      // response body bytes
  uint64_t header_bytes = 0;
  std::vector<ServerTimingEntry> server_timing;

  Phase failed_phase = Phase::kNone;
  std::string error;

  bool ok() const { return failed_phase == Phase::kNone; }
  // Body bytes per second over the transfer phase (whole response when it was instant).
  double throughput_bps() const;
};

// The registered reason phrase of common status codes (RFC 9110 §15); "" for others.

// Process exit status for a trace: 0 on success, one value per failing phase so scripts
// can tell a DNS failure from a TLS one without parsing text.
int exit_status_for(const RequestTrace& t);

}  // namespace hop::trace
