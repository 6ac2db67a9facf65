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

#include "core/event_loop.h"
#include "core/socket.h"
#include "dns/resolver_options.h"

namespace hop::dns {

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
