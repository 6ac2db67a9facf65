#include "upstream/pool.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "tls/client_context.h"
#include "tls/tls_stream.h"

namespace hop::upstream {

const char* to_string(PoolFailure f) {
  switch (f) {
    case PoolFailure::kOverflow: return "overflow";
    case PoolFailure::kConnectFailed: return "upstream-connect";
    case PoolFailure::kConnectTimeout: return "upstream-connect-timeout";
    case PoolFailure::kDraining: return "upstream-draining";
    case PoolFailure::kHttp1Only: return "upstream-no-h2";
    case PoolFailure::kKeepaliveTimeout: return "upstream-keepalive-timeout";
  }
  return "?";
}

UpstreamPool::UpstreamPool(core::EventLoop& loop, core::BufferPool& buffers, core::Address address, std::string name,
                           config::PoolConfig cfg, stats::ClusterStats* stats, size_t buffer_size)
    : loop_(loop), buffers_(buffers), address_(address), name_(std::move(name)), cfg_(cfg), stats_(stats),
      buffer_size_(buffer_size) {}

UpstreamPool::~UpstreamPool() {
  while (idle_head_) destroy(*idle_head_);
  while (PoolWaiter* w = pop_waiter()) w->on_pool_failure(PoolFailure::kDraining, 0);
}

void UpstreamPool::update(const config::PoolConfig& cfg, stats::ClusterStats* stats) {
  cfg_ = cfg;
  stats_ = stats;
  draining_ = false;
}

void UpstreamPool::drain() {
  // Queued requests stay queued: a draining pool still serves the requests that chose its
  // host (they finish on the snapshot they started with); it only stops keeping
  // connections idle. Failing them here would turn a reload into 503s.
  draining_ = true;
  while (idle_head_) destroy(*idle_head_);
}

void UpstreamPool::acquire(PoolWaiter& w) {
  // A draining pool still serves (requests in flight on an older snapshot retry to hosts
  // that snapshot has), it just keeps no connection idle afterwards.
  if (idle_head_) {
    // Most recently used first. The idle watch (EPOLLRDHUP while idle) retires closed
    // connections; a FIN that lands after the last epoll_wait is caught by the request's
    // resend on a fresh connection (no response byte yet) — cheaper than a recv(MSG_PEEK)
    // per request, which cost one system call in four.
    UpstreamConnection& c = *idle_head_;
    remove_idle(c);
    stats_->connections_reused.inc();
    hand_out(c);
    w.on_pool_ready(c, false);
    return;
  }
  // Bounded: at most max_pending wait beyond those a connection is being opened for.
  if (pending_ >= cfg_.max_pending && connecting_ <= pending_ && total_ >= cfg_.max_connections) {
    stats_->pool_overflow.inc();
    w.on_pool_failure(PoolFailure::kOverflow, 0);
    return;
  }
  // Circuit breakers, cluster-wide: too many queued, or no connection to wait for.
  if ((breakers_.max_pending &&
       static_cast<uint64_t>(shared_->pending.load(std::memory_order_relaxed)) >= breakers_.max_pending) ||
      (total_ == 0 && connection_breaker_open())) {
    stats_->breaker_open.inc();
    w.on_pool_failure(PoolFailure::kOverflow, 0);
    return;
  }
  // Queue first, then connect: whichever connection is ready first serves the queue head.
  w.queued_ = true;
  w.wprev_ = wait_tail_;
  w.wnext_ = nullptr;
  if (wait_tail_) wait_tail_->wnext_ = &w;
  else wait_head_ = &w;
  wait_tail_ = &w;
  ++pending_;
  stats_->pending.add(1);
  shared_->pending.fetch_add(1, std::memory_order_relaxed);
  if (total_ < cfg_.max_connections && connecting_ < pending_ && !connection_breaker_open()) connect_new();
}

void UpstreamPool::cancel(PoolWaiter& w) {
  if (!w.queued_) return;
  if (w.wprev_) w.wprev_->wnext_ = w.wnext_;
  else wait_head_ = w.wnext_;
  if (w.wnext_) w.wnext_->wprev_ = w.wprev_;
  else wait_tail_ = w.wprev_;
  w.queued_ = false;
  w.wprev_ = w.wnext_ = nullptr;
  --pending_;
  stats_->pending.add(-1);
  shared_->pending.fetch_sub(1, std::memory_order_relaxed);
}

PoolWaiter* UpstreamPool::pop_waiter() {
  PoolWaiter* w = wait_head_;
  if (w) cancel(*w);
  return w;
}

void UpstreamPool::connect_new() {
  auto* c = new UpstreamConnection(*this, loop_, buffers_, buffer_size_);
  c->fd_ = core::connect_socket(address_);
  ++total_;
  stats_->active_connections.add(1);
  shared_->connections.fetch_add(1, std::memory_order_relaxed);
  if (c->fd_ < 0 || !loop_.add(c->fd_, c)) {
    int err = errno;
    stats_->connect_failures.inc();
    destroy(*c);
    fail_one_waiter(PoolFailure::kConnectFailed, err);
    return;
  }
  ++connecting_;
  c->state_ = UpstreamConnection::State::kConnecting;
  c->timer_.arm(cfg_.connect_timeout);
  stats_->connections_opened.inc();
}

void UpstreamPool::fail_one_waiter(PoolFailure why, int error) {
  if (PoolWaiter* w = pop_waiter()) w->on_pool_failure(why, error);
}

void UpstreamPool::hand_out(UpstreamConnection& c) {
  c.state_ = UpstreamConnection::State::kBusy;
  c.timer_.cancel();
  ++c.requests_;
}

void UpstreamPool::on_connection_event(UpstreamConnection& c, uint32_t events) {
  if (c.state_ == UpstreamConnection::State::kConnecting) {
    if (c.handshaking_) {
      continue_handshake(c);
      return;
    }
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = core::socket_error(c.fd_);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      connect_failed(c, PoolFailure::kConnectFailed, err ? err : ECONNREFUSED);
      return;
    }
    if (!tls_) {
      on_connected(c);
      return;
    }
    SSL* ssl = tls_->new_ssl(c.fd_, server_name_, address_.host(), /*http1_only=*/true);
    if (!ssl) {
      HOP_LOG_WARN("upstream {}: cannot create a TLS session", name_);
      connect_failed(c, PoolFailure::kConnectFailed, EPROTO);
      return;
    }
    c.tls_ = std::make_unique<tls::TlsStream>(ssl);
    c.handshaking_ = true;
    continue_handshake(c);
    return;
  }
  // Idle (or busy without a user): EOF or bytes nobody asked for mean the connection can
  // no longer be trusted for a request — except TLS records that carry no data (session
  // tickets), which are read and dropped.
  if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP) ||
      ((events & EPOLLIN) &&
       !(c.tls_ && c.state_ == UpstreamConnection::State::kIdle && c.discard_idle_tls_records()))) {
    if (c.state_ == UpstreamConnection::State::kIdle) remove_idle(c);
    destroy(c);
  }
}

void UpstreamPool::continue_handshake(UpstreamConnection& c) {
  tls::IoStatus st = c.tls_->handshake();
  if (st == tls::IoStatus::kWantRead || st == tls::IoStatus::kWantWrite) return;  // the connect timer runs on
  if (st != tls::IoStatus::kOk) {
    HOP_LOG_WARN("upstream {}: TLS handshake failed: {}", name_, c.tls_->error());
    connect_failed(c, PoolFailure::kConnectFailed, EPROTO);
    return;
  }
  c.handshaking_ = false;
  on_connected(c);
}

void UpstreamPool::connect_failed(UpstreamConnection& c, PoolFailure why, int error) {
  --connecting_;
  stats_->connect_failures.inc();
  destroy(c);
  fail_one_waiter(why, error);
}

void UpstreamPool::on_connected(UpstreamConnection& c) {
  --connecting_;
  if (PoolWaiter* w = pop_waiter()) {
    hand_out(c);
    w->on_pool_ready(c, true);
  } else {
    push_idle(c);  // the waiter went away; keep the connection warm for the next one
  }
}

void UpstreamPool::on_timer(UpstreamConnection& c) {
  if (c.state_ == UpstreamConnection::State::kConnecting) {
    connect_failed(c, PoolFailure::kConnectTimeout, ETIMEDOUT);  // TCP connect or TLS handshake
  } else if (c.state_ == UpstreamConnection::State::kIdle) {
    remove_idle(c);
    destroy(c);
  }
}

void UpstreamPool::release(UpstreamConnection& c, bool reusable) {
  c.user_ = nullptr;
  c.in_.clear();
  c.in_.release_if_empty();
  if (!reusable || draining_ || c.eof_ ||
      (cfg_.max_requests_per_connection && c.requests_ >= cfg_.max_requests_per_connection)) {
    destroy(c);
    // A closed connection frees a slot: a queued request may now connect.
    if (pending_ > connecting_ && total_ < cfg_.max_connections && !connection_breaker_open()) connect_new();
    return;
  }
  if (PoolWaiter* w = pop_waiter()) {
    stats_->connections_reused.inc();
    hand_out(c);
    w->on_pool_ready(c, false);
    return;
  }
  push_idle(c);
}

void UpstreamPool::push_idle(UpstreamConnection& c) {
  c.state_ = UpstreamConnection::State::kIdle;
  c.prev_ = nullptr;
  c.next_ = idle_head_;
  if (idle_head_) idle_head_->prev_ = &c;
  idle_head_ = &c;
  ++idle_count_;
  c.timer_.arm(cfg_.idle_timeout);
}

void UpstreamPool::remove_idle(UpstreamConnection& c) {
  if (c.prev_) c.prev_->next_ = c.next_;
  else idle_head_ = c.next_;
  if (c.next_) c.next_->prev_ = c.prev_;
  c.prev_ = c.next_ = nullptr;
  --idle_count_;
  c.timer_.cancel();
}

void UpstreamPool::destroy(UpstreamConnection& c) {
  if (c.state_ == UpstreamConnection::State::kIdle && (c.prev_ || idle_head_ == &c)) remove_idle(c);
  --total_;
  stats_->active_connections.add(-1);
  shared_->connections.fetch_sub(1, std::memory_order_relaxed);
  // The connection may be on the stack (its on_io called us), and epoll may still hold an
  // event for it in this batch: mark it closed and free it after this iteration.
  c.state_ = UpstreamConnection::State::kClosed;
  c.user_ = nullptr;
  c.timer_.cancel();
  if (c.fd_ >= 0) {
    loop_.remove(c.fd_);
    ::close(c.fd_);
    c.fd_ = -1;
  }
  UpstreamConnection* p = &c;
  loop_.defer([p] { delete p; });
}

}  // namespace hop::upstream
