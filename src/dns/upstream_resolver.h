// Resolves the hosts of proxy clusters that are DNS names, on the control thread, with
// c-ares driven by the control loop. Each watched name is re-resolved when its TTL runs out;
// the watcher hears only about changes. When resolution fails (timeout, SERVFAIL, no
// server) the last good answer stays in use (serve-stale, RFC 8767) and a line is logged.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/base/errors.h"
#include "core/event_loop.h"
#include "core/socket.h"

namespace hop::dns {

struct ResolverOptions {
  std::vector<core::Address> servers;  // empty = the system's (/etc/resolv.conf)
  std::chrono::milliseconds min_ttl{1000};   // floor: a TTL of 0 must not mean a query loop
  std::chrono::milliseconds max_ttl{300000}; // ceiling: pick up changes even from long TTLs
  std::chrono::milliseconds negative_ttl{5000};  // NXDOMAIN/NODATA, and the retry after a failure
  std::chrono::milliseconds timeout{2000};
  // /ready answers 503 while a name has had no answer yet (positive or negative), for at
  // most this long after it was first configured: a load balancer then sends no traffic
  // before the clusters have hosts. 0 = do not wait.
  std::chrono::milliseconds ready_wait{10000};
};

// Reads a `resolver:` map: servers (list of IP:port), min_ttl, max_ttl, negative_ttl,
// timeout, ready_wait (durations). Where the map lives in hop's config is the loader's choice.
bool parse_resolver_options(const YAML::Node& node, ResolverOptions& out, config::ConfigErrors& errs);

class UpstreamResolver {
 public:
  UpstreamResolver(core::EventLoop& control_loop, ResolverOptions opts);
  ~UpstreamResolver();
  UpstreamResolver(const UpstreamResolver&) = delete;
  UpstreamResolver& operator=(const UpstreamResolver&) = delete;

  using OnChange = std::function<void(const std::vector<core::Address>&)>;
  // Starts resolving now; on_change runs on the control loop with the full new set each
  // time it changes (empty after a negative answer). Returns an id for unwatch.
  uint64_t watch(std::string name, uint16_t port, OnChange on_change);
  void unwatch(uint64_t id);

  // For tests and the admin page.
  struct Status {
    std::vector<core::Address> addresses;
    uint64_t resolutions = 0;
    uint64_t failures = 0;
    bool stale = false;  // serving the last good answer after a failure
    std::chrono::milliseconds next_in{0};
  };
  bool status(uint64_t id, Status& out) const;

 private:
  struct Watch;
  struct Channel;
  void resolve(Watch& w);
  void on_result(uint64_t id, int status, std::vector<core::Address> addrs, uint32_t ttl_seconds);
  void schedule(Watch& w, std::chrono::milliseconds after);

  core::EventLoop& loop_;
  ResolverOptions opts_;
  std::unique_ptr<Channel> channel_;
  std::unordered_map<uint64_t, std::unique_ptr<Watch>> watches_;
  uint64_t next_id_ = 1;
};

}  // namespace hop::dns
