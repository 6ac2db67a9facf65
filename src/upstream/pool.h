// Keep-alive connections to one upstream host, owned by one worker (no locks). A request
// asks for a connection; it gets an idle one (most recently used first, its socket is the
// least likely to have been closed), a new one, or a place in a bounded queue.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "stats/registry.h"
#include "upstream/shared_state.h"
#include "upstream/upstream_connection.h"

namespace hop::tls {
class ClientContext;
}

namespace hop::upstream {

// kHttp1Only: an HTTP/2 pool's host chose HTTP/1.1 by ALPN (an `auto` cluster falls back
// to its HTTP/1.1 pool for that host).
// kKeepaliveTimeout: an open HTTP/2 connection did not answer a keepalive PING in time.
enum class PoolFailure { kOverflow, kConnectFailed, kConnectTimeout, kDraining, kHttp1Only, kKeepaliveTimeout };
const char* to_string(PoolFailure f);

class PoolWaiter {
 public:
  // The connection is the waiter's until it calls release(); the waiter attaches itself as
  // the connection's user to receive its readiness. fresh = just connected.
  virtual void on_pool_ready(UpstreamConnection& c, bool fresh) = 0;
  virtual void on_pool_failure(PoolFailure why, int error) = 0;

 protected:
  ~PoolWaiter() = default;

 private:
  friend class UpstreamPool;
  PoolWaiter* wprev_ = nullptr;
  PoolWaiter* wnext_ = nullptr;
  bool queued_ = false;
};

class UpstreamPool {
 public:
  UpstreamPool(core::EventLoop& loop, core::BufferPool& buffers, core::Address address, std::string name,
               config::PoolConfig cfg, stats::ClusterStats* stats, size_t buffer_size);

  // Cluster-wide limits shared by every worker's pools of the cluster (circuit breakers).
  void set_breakers(std::shared_ptr<ClusterShared> shared, const config::CircuitBreakers& breakers) {
    shared_ = std::move(shared);
    breakers_ = breakers;
  }
  ~UpstreamPool();

  // TLS toward the host (null = cleartext). A new connection is handed out only after its
  // handshake, which the connect timeout covers. server_name: SNI and the verified name
  // ("" = the address, see ClientContext::new_ssl). Connections already open keep theirs.
  void set_tls(std::shared_ptr<const tls::ClientContext> tls, std::string server_name) {
    tls_ = std::move(tls);
    server_name_ = std::move(server_name);
  }

  // Calls back on_pool_ready / on_pool_failure — possibly before returning.
  void acquire(PoolWaiter& w);
  void cancel(PoolWaiter& w);
  // Returns a connection. reusable=false closes it (error, Connection: close, unread body).
  void release(UpstreamConnection& c, bool reusable);

  // New settings after a reload (same host).
  void update(const config::PoolConfig& cfg, stats::ClusterStats* stats);
  // Host removed from the config: close idle connections now, the others when released;
  // requests still on an older snapshot may go on using it.
  void drain();
  bool idle_and_empty() const { return total_ == 0 && pending_ == 0; }

  const std::string& name() const { return name_; }
  const std::string& key() const { return key_; }  // "cluster/host" in WorkerUpstreams
  void set_key(std::string key) { key_ = std::move(key); }
  const core::Address& address() const { return address_; }
  size_t total_connections() const { return total_; }
  size_t idle_connections() const { return idle_count_; }
  size_t pending() const { return pending_; }

 private:
  friend class UpstreamConnection;
  void on_connection_event(UpstreamConnection& c, uint32_t events);
  void on_timer(UpstreamConnection& c);
  void connect_new();
  void on_connected(UpstreamConnection& c);
  void continue_handshake(UpstreamConnection& c);
  void connect_failed(UpstreamConnection& c, PoolFailure why, int error);
  void hand_out(UpstreamConnection& c);
  void destroy(UpstreamConnection& c);
  void push_idle(UpstreamConnection& c);
  void remove_idle(UpstreamConnection& c);
  PoolWaiter* pop_waiter();
  void fail_one_waiter(PoolFailure why, int error);

  core::EventLoop& loop_;
  core::BufferPool& buffers_;
  core::Address address_;
  std::string name_;
  std::string key_;
  config::PoolConfig cfg_;
  stats::ClusterStats* stats_;
  std::shared_ptr<ClusterShared> shared_ = std::make_shared<ClusterShared>();
  config::CircuitBreakers breakers_;
  bool connection_breaker_open() const {
    return breakers_.max_connections &&
           static_cast<uint64_t>(shared_->connections.load(std::memory_order_relaxed)) >= breakers_.max_connections;
  }
  size_t buffer_size_;
  bool draining_ = false;
  std::shared_ptr<const tls::ClientContext> tls_;
  std::string server_name_;

  UpstreamConnection* idle_head_ = nullptr;  // most recently released first
  size_t idle_count_ = 0;
  size_t total_ = 0;       // connecting + idle + busy
  size_t connecting_ = 0;
  PoolWaiter* wait_head_ = nullptr;
  PoolWaiter* wait_tail_ = nullptr;
  size_t pending_ = 0;
};

}  // namespace hop::upstream
