// A worker thread: one event loop that owns its accepted connections, its upstream pools
// and its buffers. The control thread talks to it only by posting closures (new snapshot,
// drain), so nothing on the request path is shared or locked.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "backend/backend_connection.h"
#include "dns/dns_health.h"
#include "dns/dns_metrics.h"
#include "dns/dns_server.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "proxy/worker_context.h"
#include "server/acceptor.h"
#include "server/listener_socket.h"
#include "upstream/worker_upstreams.h"

namespace hop::server {

class Worker {
 public:
  Worker(unsigned index, int access_log_fd);
  ~Worker();

  // Binds the worker's DNS sockets (if the config has dns) and starts its thread; false
  // with `error` when a socket cannot be bound. dns_health: the health of the config's DNS
  // answers (dns::bind_health), null when it has no dns.
  bool start(std::shared_ptr<const proxy::Snapshot> snap, std::shared_ptr<const dns::DnsHealth> dns_health,
             std::vector<ListenerSocket> sockets, std::string& error);
  // Thread-safe. The worker adopts `sockets` as its complete set: acceptors for sockets it
  // already has stay, missing ones close, new ones start.
  void apply(std::shared_ptr<const proxy::Snapshot> snap, std::shared_ptr<const dns::DnsHealth> dns_health,
             std::vector<ListenerSocket> sockets);
  // The worker continues its access log on `fd` (its own descriptor; < 0 turns it off).
  void set_access_log(int fd);
  // Thread-safe. Stop accepting, let requests in flight finish, exit within `timeout`.
  void drain(core::Millis timeout);
  void join();

  unsigned index() const { return index_; }
  size_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }
  const dns::DnsMetrics& dns_metrics() const { return *dns_metrics_; }

 private:
  void adopt(std::shared_ptr<const proxy::Snapshot> snap, std::shared_ptr<const dns::DnsHealth> dns_health,
             std::vector<ListenerSocket> sockets);
  void housekeeping();
  void finish_drain();
  bool at_limit(const std::string& listener) const;

  unsigned index_;
  core::EventLoop loop_;
  core::BufferPool buffers_;
  upstream::WorkerUpstreams upstreams_;
  proxy::AccessLog access_log_;
  proxy::WorkerContext ctx_;
  // One context per built-in backend name, so each answers with its own x-backend.
  std::map<std::string, std::unique_ptr<backend::BackendContext>> backends_;
  size_t backend_connections() const;
  std::map<std::string, std::unique_ptr<Acceptor>> acceptors_;
  std::unique_ptr<dns::DnsMetrics> dns_metrics_;
  std::unique_ptr<dns::DnsServer> dns_;
  void apply_dns(const std::shared_ptr<const dns::DnsConfig>& cfg, std::shared_ptr<const dns::DnsHealth> health);
  core::Timer housekeeping_timer_;
  core::TimePoint drain_deadline_{};
  std::atomic<size_t> open_connections_{0};
  std::thread thread_;
};

}  // namespace hop::server
