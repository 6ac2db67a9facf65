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

  void start(std::shared_ptr<const proxy::Snapshot> snap, std::vector<ListenerSocket> sockets);
  // Thread-safe. The worker adopts `sockets` as its complete set: acceptors for sockets it
  // already has stay, missing ones close, new ones start.
  void apply(std::shared_ptr<const proxy::Snapshot> snap, std::vector<ListenerSocket> sockets);
  // Thread-safe. Stop accepting, let requests in flight finish, exit within `timeout`.
  void drain(core::Millis timeout);
  void join();

  unsigned index() const { return index_; }
  size_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }

 private:
  void adopt(std::shared_ptr<const proxy::Snapshot> snap, std::vector<ListenerSocket> sockets);
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
  core::Timer housekeeping_timer_;
  core::TimePoint drain_deadline_{};
  std::atomic<size_t> open_connections_{0};
  std::thread thread_;
};

}  // namespace hop::server
