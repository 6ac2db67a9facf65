#include "server/worker.h"

#include <pthread.h>

#include <cstdio>
#include <random>

#include "backend/h2_backend.h"
#include "server/tls_accept.h"

#include "core/log.h"
#include "proxy/http_connection.h"

namespace hop::server {

namespace {
constexpr core::Millis kHousekeepingInterval{100};
}

Worker::Worker(unsigned index, int access_log_fd)
    : index_(index), buffers_(16 * 1024), upstreams_(loop_, buffers_, index, 16 * 1024), access_log_(access_log_fd),
      ctx_{index, loop_, buffers_, upstreams_, access_log_, nullptr},
      dns_metrics_(std::make_unique<dns::DnsMetrics>()), housekeeping_timer_(loop_, [this] { housekeeping(); }) {
  // Seeded per process and worker: trace ids and split decisions must not repeat across
  // restarts (a fixed seed gave every fresh process the same first traceparent).
  std::random_device rd;
  ctx_.rng ^= ((static_cast<uint64_t>(rd()) << 32) | rd()) ^ ((static_cast<uint64_t>(index) + 1) * 0x9E3779B97F4A7C15ull);
  if (ctx_.rng == 0) ctx_.rng = 0x2545F4914F6CDD1Dull;  // xorshift must not start at 0
  loop_.set_iteration_hook([this] {
    if (access_log_.enabled()) access_log_.flush();
  });
}

Worker::~Worker() { join(); }

bool Worker::start(std::shared_ptr<const proxy::Snapshot> snap, std::shared_ptr<const dns::DnsHealth> dns_health,
                   std::vector<ListenerSocket> sockets, std::string& error) {
  if (snap->config->dns) {
    // Bound here, on the control thread, before the loop runs: a port in use stops start-up.
    dns_ = std::make_unique<dns::DnsServer>(loop_, *dns_metrics_);
    if (!dns_->start(snap->config->dns, dns_health, error)) return false;
  }
  adopt(std::move(snap), std::move(dns_health), std::move(sockets));
  thread_ = std::thread([this] {
    // "hop-worker-N" in top -H, perf and /proc/PID/task/*/comm: which thread is busy, and
    // which threads a CPU quota or affinity applies to (bench/run pins them by name).
    char name[16];
    std::snprintf(name, sizeof name, "hop-worker-%u", index_ % 1000);
    pthread_setname_np(pthread_self(), name);
    housekeeping_timer_.arm(kHousekeepingInterval);
    loop_.run();
    // Whatever is still open after a drain deadline is closed here, on the owning thread.
    while (ctx_.connections) ctx_.connections->abort();
    for (auto& [name, b] : backends_) {
      std::vector<backend::BackendConnection*> bcs(b->connections.begin(), b->connections.end());
      for (auto* c : bcs) c->abort();
      std::vector<backend::H2Backend*> h2s(b->h2_connections.begin(), b->h2_connections.end());
      for (auto* c : h2s) c->abort();
    }
    acceptors_.clear();
    dns_.reset();
    loop_.run_deferred_now();
    access_log_.flush();
  });
  return true;
}

void Worker::apply_dns(const std::shared_ptr<const dns::DnsConfig>& cfg, std::shared_ptr<const dns::DnsHealth> health) {
  if (cfg && dns_) {
    dns_->update(cfg, std::move(health));
  } else if (cfg) {
    dns_ = std::make_unique<dns::DnsServer>(loop_, *dns_metrics_);
    std::string error;
    if (!dns_->start(cfg, std::move(health), error)) HOP_LOG_ERROR("worker {}: {}", index_, error);
  } else if (dns_) {
    dns_->stop();
  }
}

void Worker::apply(std::shared_ptr<const proxy::Snapshot> snap, std::shared_ptr<const dns::DnsHealth> dns_health,
                   std::vector<ListenerSocket> sockets) {
  loop_.post([this, snap = std::move(snap), dns_health = std::move(dns_health),
              sockets = std::move(sockets)]() mutable {
    adopt(std::move(snap), std::move(dns_health), std::move(sockets));
  });
}

void Worker::set_access_log(int fd) {
  loop_.post([this, fd] { access_log_.replace_fd(fd); });
}

void Worker::adopt(std::shared_ptr<const proxy::Snapshot> snap, std::shared_ptr<const dns::DnsHealth> dns_health,
                   std::vector<ListenerSocket> sockets) {
  if (ctx_.snapshot) apply_dns(snap->config->dns, std::move(dns_health));  // a reload (start() began DNS itself)
  ctx_.snapshot = snap;
  upstreams_.apply(snap->clusters);
  std::map<std::string, std::unique_ptr<Acceptor>> next;
  for (auto& s : sockets) {
    std::string key = s.key();
    auto it = acceptors_.find(key);
    if (it != acceptors_.end()) {
      if (s.fd != it->second->socket().fd) ::close(s.fd);  // control re-sent a duplicate
      next[key] = std::move(it->second);
      acceptors_.erase(it);
      continue;
    }
    if (s.kind == ListenerKind::kHttp) {
      std::string name = s.name;
      next[key] = std::make_unique<Acceptor>(
          loop_, s,
          [this, name](int fd, const core::Address& peer) {
            const auto& lsn = ctx_.snapshot->config->listeners;
            for (size_t i = 0; i < lsn.size(); ++i) {
              if (lsn[i].name == name) {
                const auto& tls = ctx_.snapshot->listener_tls[i];
                if (tls) new TlsAccept(ctx_, fd, peer, i, tls);
                else (new proxy::HttpConnection(ctx_, transport::ClientSocket(fd), peer, i))->start();
                return;
              }
            }
            ::close(fd);
          },
          [this, name] { return at_limit(name); });
    } else {
      auto& bctx = backends_[s.name];
      if (!bctx) bctx = std::make_unique<backend::BackendContext>(backend::BackendContext{loop_, buffers_, s.name, 0, false, 0, {}, {}});
      for (const auto& bc : snap->config->backends)
        if (bc.name == s.name) bctx->fail_status = bc.fail_status;
      backend::BackendContext* b = bctx.get();
      next[key] = std::make_unique<Acceptor>(
          loop_, s, [b](int fd, const core::Address& peer) { new backend::BackendConnection(*b, fd, peer); },
          [this] { return ctx_.draining; });
    }
  }
  // What is left in acceptors_ was removed from the config: closing the socket stops new
  // connections; connections already accepted carry on with the snapshot they hold.
  acceptors_.swap(next);
  loop_.defer([old = std::make_shared<decltype(next)>(std::move(next))] { old->clear(); });
}

size_t Worker::backend_connections() const {
  size_t n = 0;
  for (const auto& [name, b] : backends_) n += b->open_connections;
  return n;
}

// max_connections is per listener: this worker's share of it, against this worker's open
// connections on that listener (TLS handshakes included), not against all its listeners'.
bool Worker::at_limit(const std::string& listener) const {
  if (ctx_.draining) return true;
  const auto& snap = *ctx_.snapshot;
  for (size_t i = 0; i < snap.config->listeners.size(); ++i) {
    const auto& l = snap.config->listeners[i];
    if (l.name != listener) continue;
    const auto& per_worker = snap.listener_stats[i];
    uint64_t share = l.limits.max_connections / (per_worker.empty() ? 1 : per_worker.size());
    int64_t open = per_worker.empty() ? 0 : per_worker[ctx_.index]->active_connections.value();
    return open >= static_cast<int64_t>(share ? share : 1);
  }
  return false;
}

void Worker::housekeeping() {
  size_t dns_conns = dns_ ? dns_->open_connections() : 0;
  open_connections_.store(ctx_.connection_count + backend_connections() + dns_conns, std::memory_order_relaxed);
  upstreams_.collect();
  if (ctx_.draining) {
    if ((ctx_.connection_count == 0 && backend_connections() == 0 && dns_conns == 0) ||
        loop_.now() >= drain_deadline_) {
      finish_drain();
      return;
    }
  } else {
    // Acceptors paused at the connection limit resume once connections have closed.
    for (auto& [k, a] : acceptors_) a->resume();
  }
  housekeeping_timer_.arm(kHousekeepingInterval);
}

void Worker::drain(core::Millis timeout) {
  loop_.post([this, timeout] {
    ctx_.draining = true;
    for (auto& [name, b] : backends_) b->draining = true;
    if (dns_) dns_->stop();
    drain_deadline_ = loop_.now() + timeout;
    auto old = std::make_shared<std::map<std::string, std::unique_ptr<Acceptor>>>(std::move(acceptors_));
    acceptors_.clear();
    loop_.defer([old] { old->clear(); });
    // Idle keep-alive connections close now; busy ones close after their response.
    for (proxy::DownstreamConnection* c = ctx_.connections; c;) {
      proxy::DownstreamConnection* n = c->next;
      c->drain();
      c = n;
    }
    for (auto& [name, b] : backends_) {
      std::vector<backend::BackendConnection*> bcs(b->connections.begin(), b->connections.end());
      for (auto* c : bcs) c->drain();
      std::vector<backend::H2Backend*> h2s(b->h2_connections.begin(), b->h2_connections.end());
      for (auto* c : h2s) c->drain();
    }
    housekeeping();
  });
}

void Worker::finish_drain() {
  if (ctx_.connection_count) HOP_LOG_WARN("worker {}: drain timeout, closing {} connections", index_, ctx_.connection_count);
  upstreams_.drain_all();
  loop_.stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace hop::server
