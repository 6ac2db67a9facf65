// How the control thread resolves cluster hosts given by name (the `resolver:` map): plain
// data, so configuration can hold it without the resolver itself.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <vector>

#include "config/base/errors.h"
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

}  // namespace hop::dns
