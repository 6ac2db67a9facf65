// H2Pool: sessions to one host, streams handed out on the least-loaded one with room.
//
// Connections are opened for waiters a connecting session will not cover: each session is
// expected to take min(peer limit, cap) streams (the last limit a peer announced; 100 until
// one has), so 50 waiters with a cap of 10 open 5 connections at once, not 1 or 50.
#include <algorithm>
#include <cerrno>

#include "upstream/h2_client_session.h"
#include "upstream/h2_session.h"

namespace hop::upstream {

class H2Pool::Impl final : public H2SessionOwner {
 public:
  Impl(core::EventLoop& loop, core::Address address, std::string server_name, config::PoolConfig cfg,
       const config::UpstreamHttp2Config& http2, stats::ClusterStats* stats, std::shared_ptr<const tls::ClientContext> tls)
      : loop_(loop), address_(address), server_name_(std::move(server_name)), cfg_(cfg), http2_(http2),
        cap_(http2.max_concurrent_streams ? http2.max_concurrent_streams : 1), stats_(stats), tls_(std::move(tls)) {}

  ~Impl() {
    dying_ = true;
    while (H2StreamUser* u = pop_waiter()) u->on_h2_failure(PoolFailure::kDraining, 0);
    std::vector<H2ClientSession*> all = sessions_;
    for (H2ClientSession* s : all) s->close();
  }

  void acquire(H2StreamUser& u) {
    if (u.queued_) return;
    if (H2ClientSession* s = least_loaded()) {
      stats_->connections_reused.inc();
      u.on_h2_ready(*s, false);
      return;
    }
    // Bounded like UpstreamPool's queue: more than max_pending wait only while the
    // connections being opened will take them all, or another may still be opened.
    if (pending_ >= cfg_.max_pending && connecting_ * expected_streams() <= pending_ &&
        total_ >= cfg_.max_connections) {
      stats_->pool_overflow.inc();
      u.on_h2_failure(PoolFailure::kOverflow, 0);
      return;
    }
    if ((breakers_.max_pending &&
         static_cast<uint64_t>(shared_->pending.load(std::memory_order_relaxed)) >= breakers_.max_pending) ||
        (total_ == 0 && connection_breaker_open())) {
      stats_->breaker_open.inc();
      u.on_h2_failure(PoolFailure::kOverflow, 0);
      return;
    }
    u.queued_ = true;
    u.wprev_ = wait_tail_;
    u.wnext_ = nullptr;
    if (wait_tail_) wait_tail_->wnext_ = &u;
    else wait_head_ = &u;
    wait_tail_ = &u;
    ++pending_;
    stats_->pending.add(1);
    shared_->pending.fetch_add(1, std::memory_order_relaxed);
    connect_for_waiters();
  }

  void cancel(H2StreamUser& u) {
    if (!u.queued_) return;
    if (u.wprev_) u.wprev_->wnext_ = u.wnext_;
    else wait_head_ = u.wnext_;
    if (u.wnext_) u.wnext_->wprev_ = u.wprev_;
    else wait_tail_ = u.wprev_;
    u.queued_ = false;
    u.wprev_ = u.wnext_ = nullptr;
    --pending_;
    stats_->pending.add(-1);
    shared_->pending.fetch_sub(1, std::memory_order_relaxed);
  }

  void update(const config::PoolConfig& cfg, stats::ClusterStats* stats) {
    cfg_ = cfg;
    stats_ = stats;
    draining_ = false;
    for (H2ClientSession* s : sessions_) {
      s->update(session_settings());
      s->close_when_idle(false);
    }
  }

  void drain() {
    // Like UpstreamPool::drain: requests still on an older snapshot may use the pool; it
    // only stops keeping sessions open without streams.
    draining_ = true;
    std::vector<H2ClientSession*> all = sessions_;
    for (H2ClientSession* s : all) s->close_when_idle(true);
  }

  void set_breakers(std::shared_ptr<ClusterShared> shared, const config::CircuitBreakers& breakers) {
    shared_ = std::move(shared);
    breakers_ = breakers;
  }

  void set_tls(std::shared_ptr<const tls::ClientContext> tls, std::string server_name) {
    if (tls != tls_) http1_only_ = false;  // new settings: ask the host again
    tls_ = std::move(tls);
    server_name_ = std::move(server_name);
  }

  void set_http2(const config::UpstreamHttp2Config& http2) {
    http2_ = http2;
    cap_ = http2.max_concurrent_streams ? http2.max_concurrent_streams : 1;
    for (H2ClientSession* s : sessions_) s->update(session_settings());
    dispatch(nullptr);
    connect_for_waiters();
  }

  size_t total() const { return total_; }
  size_t pending() const { return pending_; }

  // ---- H2SessionOwner ----

  void on_session_ready(H2ClientSession& s) override {
    --connecting_;
    peer_streams_ = s.stream_limit();
    dispatch(&s);
    connect_for_waiters();
  }

  void on_session_slots(H2ClientSession& s) override {
    if (s.ready()) peer_streams_ = s.stream_limit();
    dispatch(nullptr);
    connect_for_waiters();
  }

  void on_session_closed(H2ClientSession& s, bool connecting, PoolFailure why, int error) override {
    auto it = std::find(sessions_.begin(), sessions_.end(), &s);
    if (it != sessions_.end()) sessions_.erase(it);
    --total_;
    stats_->active_connections.add(-1);
    shared_->connections.fetch_sub(1, std::memory_order_relaxed);
    H2ClientSession* p = &s;
    loop_.defer([p] { delete p; });
    if (why == PoolFailure::kKeepaliveTimeout) stats_->keepalive_timeouts.inc();
    if (dying_) return;
    if (connecting) {
      --connecting_;
      if (why == PoolFailure::kHttp1Only) {
        // The host speaks HTTP/1.1 only: every waiter goes elsewhere, and so will later
        // requests (until the TLS settings change on a reload).
        http1_only_ = true;
        while (H2StreamUser* u = pop_waiter()) u->on_h2_failure(why, error);
        return;
      }
      stats_->connect_failures.inc();
      // The waiters this connection was opened for fail (the caller may retry another
      // host); those another connecting session will take keep waiting.
      size_t covered = connecting_ * expected_streams();
      for (size_t n = expected_streams(); n > 0 && pending_ > covered; --n)
        if (H2StreamUser* u = pop_waiter()) u->on_h2_failure(why, error);
      return;
    }
    connect_for_waiters();
  }

 private:
  uint32_t expected_streams() const { return std::min(peer_streams_, cap_); }

  H2SessionSettings session_settings() const {
    H2SessionSettings st;
    st.connect_timeout = cfg_.connect_timeout;
    st.idle_timeout = cfg_.idle_timeout;
    st.max_streams_cap = cap_;
    st.ping_interval = http2_.ping_interval;
    st.ping_timeout = http2_.ping_timeout;
    return st;
  }

  bool connection_breaker_open() const {
    return breakers_.max_connections &&
           static_cast<uint64_t>(shared_->connections.load(std::memory_order_relaxed)) >= breakers_.max_connections;
  }

  H2ClientSession* least_loaded() const {
    H2ClientSession* best = nullptr;
    for (H2ClientSession* s : sessions_)
      if (s->accepting() && (!best || s->open_streams() < best->open_streams())) best = s;
    return best;
  }

  H2StreamUser* pop_waiter() {
    H2StreamUser* u = wait_head_;
    if (u) cancel(*u);
    return u;
  }

  // Hands free slots to waiters in order. `fresh`: a session that just connected, which
  // serves first (its streams count as opened for the wait).
  void dispatch(H2ClientSession* fresh) {
    while (wait_head_) {
      H2ClientSession* s = fresh && fresh->accepting() ? fresh : least_loaded();
      if (!s) return;
      H2StreamUser* u = pop_waiter();
      if (s != fresh) stats_->connections_reused.inc();
      u->on_h2_ready(*s, s == fresh);  // the user submits here (or gives up: the slot stays free)
    }
  }

  void connect_for_waiters() {
    if (dying_) return;
    while (pending_ > connecting_ * expected_streams() && total_ < cfg_.max_connections && !connection_breaker_open()) {
      if (!connect_new()) return;
    }
  }

  bool connect_new() {
    auto* s = new H2ClientSession(loop_, *this, address_, tls_, server_name_, session_settings());
    if (!s->start()) {
      int err = errno;
      delete s;
      stats_->connect_failures.inc();
      if (H2StreamUser* u = pop_waiter()) u->on_h2_failure(PoolFailure::kConnectFailed, err);
      return false;
    }
    if (draining_) s->close_when_idle(true);
    sessions_.push_back(s);
    ++total_;
    ++connecting_;
    stats_->active_connections.add(1);
    stats_->connections_opened.inc();
    shared_->connections.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  core::EventLoop& loop_;
  core::Address address_;
  std::string server_name_;
  config::PoolConfig cfg_;
  config::UpstreamHttp2Config http2_;
  uint32_t cap_;
  stats::ClusterStats* stats_;
  std::shared_ptr<const tls::ClientContext> tls_;
  std::shared_ptr<ClusterShared> shared_ = std::make_shared<ClusterShared>();
  config::CircuitBreakers breakers_;
  uint32_t peer_streams_ = 100;  // the last limit a peer announced (RFC 9113's recommended minimum until then)
  bool draining_ = false;
  bool dying_ = false;
 public:
  bool http1_only_ = false;  // the host chose HTTP/1.1 by ALPN

  std::vector<H2ClientSession*> sessions_;  // connecting and ready; freed deferred on close
  size_t total_ = 0;
  size_t connecting_ = 0;
  H2StreamUser* wait_head_ = nullptr;
  H2StreamUser* wait_tail_ = nullptr;
  size_t pending_ = 0;
};

// Sessions read into a stack buffer and nghttp2 copies what it keeps, so the worker's
// BufferPool is not needed; the name is the address's (sessions log by address).
H2Pool::H2Pool(core::EventLoop& loop, core::BufferPool&, core::Address address, std::string,
               std::string server_name, config::PoolConfig cfg, const config::UpstreamHttp2Config& http2,
               stats::ClusterStats* stats, std::shared_ptr<const tls::ClientContext> tls)
    : impl_(std::make_unique<Impl>(loop, address, std::move(server_name), cfg, http2, stats, std::move(tls))) {}

H2Pool::~H2Pool() = default;

void H2Pool::set_breakers(std::shared_ptr<ClusterShared> shared, const config::CircuitBreakers& breakers) {
  impl_->set_breakers(std::move(shared), breakers);
}
void H2Pool::set_tls(std::shared_ptr<const tls::ClientContext> tls, std::string server_name) {
  impl_->set_tls(std::move(tls), std::move(server_name));
}
void H2Pool::set_http2(const config::UpstreamHttp2Config& http2) { impl_->set_http2(http2); }
void H2Pool::acquire(H2StreamUser& u) { impl_->acquire(u); }
void H2Pool::cancel(H2StreamUser& u) { impl_->cancel(u); }
void H2Pool::update(const config::PoolConfig& cfg, stats::ClusterStats* stats) { impl_->update(cfg, stats); }
void H2Pool::drain() { impl_->drain(); }
bool H2Pool::idle_and_empty() const { return impl_->total() == 0 && impl_->pending() == 0; }
size_t H2Pool::total_connections() const { return impl_->total(); }
bool H2Pool::http1_only() const { return impl_->http1_only_; }

size_t H2Pool::pending() const { return impl_->pending(); }

}  // namespace hop::upstream
