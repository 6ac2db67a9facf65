// What a worker serves with: the config plus what was built from it (clusters with health
// states and balancer tables, stat blocks). Immutable; the control thread builds one per
// (re)load and posts it to every worker, which swaps it in between events.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "stats/registry.h"
#include "upstream/cluster.h"
#include "upstream/shared_state.h"

namespace hop::health {
class HealthChecker;
}
namespace hop::tls {
class ServerContext;
class ClientContext;
}

namespace hop::proxy {

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::vector<upstream::Cluster> clusters;                       // config->clusters order
  std::vector<std::vector<stats::ListenerStats*>> listener_stats;  // [listener][worker]
  std::vector<std::shared_ptr<const tls::ServerContext>> listener_tls;  // config order; null = cleartext
  uint64_t generation = 0;
};

// TLS objects built from a config (certificates read, keys checked): by the control
// thread, before the snapshot, so a bad certificate rejects the reload.
struct TlsContexts {
  std::vector<std::shared_ptr<const tls::ServerContext>> listeners;  // config order; null = cleartext
  std::vector<std::shared_ptr<const tls::ClientContext>> clusters;   // config order; null = cleartext
};

// Moves a connection to the worker's newest snapshot between requests, if its listener
// (same name and address) is still there; connections of a removed listener keep theirs.
// True when it moved.
bool rebind_listener(const std::shared_ptr<const Snapshot>& newest, std::shared_ptr<const Snapshot>& snap,
                     size_t& listener_index);

// Addresses a host name currently resolves to (hosts given by name in the config).
using ResolvedLookup = std::function<std::vector<core::Address>(const std::string& name, uint16_t port)>;

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                               health::HealthChecker* checker, stats::Registry& registry,
                                               upstream::SharedStateRegistry& shared, uint64_t generation,
                                               const ResolvedLookup& resolved = {},
                                               const TlsContexts* tls = nullptr);

}  // namespace hop::proxy
