#include "server/tls_contexts.h"

#include "core/log.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace hop::server {

namespace {

// What a cluster's TLS context offers in ALPN follows the protocol it speaks to its hosts.
tls::ClientAlpn offered_alpn(config::UpstreamProtocol p) {
  switch (p) {
    case config::UpstreamProtocol::kHttp2: return tls::ClientAlpn::kH2;
    case config::UpstreamProtocol::kAuto: return tls::ClientAlpn::kH2OrHttp1;
    case config::UpstreamProtocol::kHttp1:
    case config::UpstreamProtocol::kH2c:  // cleartext: the loader refuses tls with h2c
      break;
  }
  return tls::ClientAlpn::kHttp1;
}

}  // namespace

bool TlsRegistry::build(const config::Config& cfg, proxy::TlsContexts& out, std::string& error) {
  out.listeners.assign(cfg.listeners.size(), nullptr);
  out.clusters.assign(cfg.clusters.size(), nullptr);
  std::map<std::string, Ring> keep;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    if (!l.tls) continue;
    std::string err;
    auto it = rings_.find(l.name);
    Ring r;
    if (!l.tls->ticket_key_files.empty()) {
      // Keys from files are read again on every reload: replacing the files rotates them.
      std::vector<tls::TicketKey> keys(l.tls->ticket_key_files.size());
      for (size_t k = 0; k < keys.size(); ++k) {
        if (!tls::read_ticket_key_file(l.tls->ticket_key_files[k], keys[k], err)) {
          error = "listener " + l.name + ": " + err;
          return false;
        }
      }
      r = Ring{std::make_shared<tls::TicketKeyRing>(std::move(keys)), core::Clock::now(), {}};
    } else if (it != rings_.end() && !it->second.ring->fixed()) {
      r = it->second;  // random keys outlive reloads, so tickets issued before still resume
      r.period = l.tls->ticket_key_rotation;
    } else {
      r = Ring{std::make_shared<tls::TicketKeyRing>(), core::Clock::now(), l.tls->ticket_key_rotation};
    }
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
    out.clusters[i] = tls::ClientContext::create(*c.tls, offered_alpn(c.protocol), err);
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
