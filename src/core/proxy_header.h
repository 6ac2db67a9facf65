// The PROXY protocol header (versions 1 and 2, HAProxy's specification) that a load
// balancer in front of hop sends before anything else on a connection, naming the client
// it accepted the connection from. Hand-written because it sits on the accept path of
// every connection of a listener that expects it; fuzzed (tests/fuzz/proxy_header_fuzzer).
#pragma once

#include <cstddef>

#include "core/socket.h"

namespace hop::core {

enum class ProxyHeaderResult { kIncomplete, kError, kOk };

struct ProxyHeader {
  size_t length = 0;     // bytes of the header: what follows is the client's own stream
  bool has_source = false;  // false: LOCAL (a health check), UNKNOWN or a family hop does
                            // not relay (UNIX, UDP): keep the socket's peer address
  Address source;        // the client, when has_source
};

// Parses the header at the start of data[0..len). kIncomplete: a prefix of a valid header
// (read more); kError: not a PROXY header, or a malformed one. Version 1 lines are at most
// 107 bytes (the spec's bound), version 2 blocks at most kMaxProxyV2Length past the fixed
// 16 bytes (TLVs are skipped).
inline constexpr size_t kMaxProxyV1Length = 107;
inline constexpr size_t kMaxProxyV2Length = 4096;
inline constexpr size_t kMaxProxyHeaderLength = 16 + kMaxProxyV2Length;  // either version
ProxyHeaderResult parse_proxy_header(const char* data, size_t len, ProxyHeader& out);

}  // namespace hop::core
