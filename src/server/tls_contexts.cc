#include "server/tls_contexts.h"

#include "core/log.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace hop::server {

bool TlsRegistry::build(const config::Config& cfg, proxy::TlsContexts& out, std::string& error) {
  out.listeners.assign(cfg.listeners.size(), nullptr);
  out.clusters.assign(cfg.clusters.size(), nullptr);
  std::map<std::string, Ring> keep;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    if (!l.tls) continue;
    auto it = rings_.find(l.name);
    Ring r = it != rings_.end() ? it->second : Ring{std::make_shared<tls::TicketKeyRing>(), core::Clock::now(), {}};
    r.period = l.tls->ticket_key_rotation;
    std::string err;
    out.listeners[i] = tls::ServerContext::create(*l.tls, l.http2.enabled, r.ring, err);
    if (!out.listeners[i]) {
      error = "listener " + l.name + ": " + err;
      return false;
    }
    keep[l.name] = r;
  }
  for (size_t i = 0; i < cfg.clusters.size(); ++i) {
    const auto& c = cfg.clusters[i];
    if (!c.tls) continue;
    std::string err;
    out.clusters[i] = tls::ClientContext::create(*c.tls, c.protocol, err);
    if (!out.clusters[i]) {
      error = "cluster " + c.name + ": " + err;
      return false;
    }
  }
  rings_.swap(keep);  // listeners that are gone drop their keys
  return true;
}

void TlsRegistry::rotate_due(core::TimePoint now) {
  for (auto& [name, r] : rings_) {
    if (r.period.count() <= 0 || now - r.rotated < r.period) continue;
    r.ring->rotate();
    r.rotated = now;
    HOP_LOG_DEBUG("listener {}: session ticket key rotated", name);
  }
}

}  // namespace hop::server
