// Name resolution for one trace run, through c-ares so the answer's TTL and the resolver
// can be shown (getaddrinfo hides both).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/socket.h"
#include "trace/request_trace.h"

namespace hop::trace {

// --resolve HOST:PORT:ADDR, as in curl.
struct ResolveOverride {
  std::string host;
  uint16_t port = 0;
  std::string address;
};
bool parse_resolve_override(std::string_view text, ResolveOverride& out, std::string& error);

struct ResolveResult {
  bool ok = false;
  std::string error;
  std::vector<core::Address> addresses;
  DnsInfo info;
};

class DnsResolver {
 public:
  struct Options {
    std::vector<ResolveOverride> overrides;
    std::string servers;  // "127.0.0.1:5353,..." (ares CSV); empty = /etc/resolv.conf
  };
  explicit DnsResolver(Options options);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // Literal addresses and overrides first, then this run's cache, then /etc/hosts, then DNS.
  ResolveResult resolve(const std::string& host, uint16_t port, core::TimePoint deadline);

 private:
  ResolveResult query_dns(const std::string& host, uint16_t port, core::TimePoint deadline);
  bool from_hosts_file(const std::string& host, uint16_t port, ResolveResult& out);

  Options options_;
  void* channel_ = nullptr;  // ares_channel; void* keeps ares.h out of this header
  std::string init_error_;
  // Only for -n: each request asks again so the cost shows, but answers the second time
  // from here, which is what a browser's or OS cache would do. Bounded by the one host.
  std::map<std::string, ResolveResult> cache_;
};

}  // namespace hop::trace
