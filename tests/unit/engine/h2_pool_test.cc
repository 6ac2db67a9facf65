// H2Pool and its sessions against real HTTP/2 servers: nghttpd for the protocol as a
// reference server speaks it, a scripted raw-frame server for refusals, GOAWAY and drops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tls/client_context.h"
#include "upstream/h2_session.h"
#include "upstream_test_servers.h"

using namespace hop;
using namespace hop::upstream;
using hop::testing::run_until;

namespace {

struct User final : H2StreamUser {
  std::string path = "/hello";
  std::string method = "GET";
  std::string body;             // request body ("" = none)
  bool hold_body = false;       // h2_request_body returns "none yet" until released
  bool auto_consume = true;     // consume() every response byte as it arrives
  std::function<void(User&)> after_ready;

  H2Session* session = nullptr;
  int32_t id = -1;
  bool fresh = false;
  int status = 0;
  std::string got;
  std::vector<std::pair<std::string, std::string>> trailers;
  size_t held = 0;  // received and not consumed
  bool ended = false, reset = false, refused = false, failed = false;
  PoolFailure why{};
  int error = 0;
  int late_calls = 0;  // callbacks after end, reset, failure or cancel: must stay 0
  bool cancelled = false;
  size_t body_sent = 0;
  std::string length;

  bool done() const { return ended || reset || failed; }
  void check_alive() {
    if (done() || cancelled) ++late_calls;
  }

  void on_h2_ready(H2Session& s, bool f) override {
    check_alive();
    session = &s;
    fresh = f;
    http::HeaderPairs h = {{":method", method}, {":scheme", "http"}, {":authority", "localhost"}, {":path", path}};
    if (!body.empty()) {
      length = std::to_string(body.size());
      h.push_back({"content-length", length});
    }
    id = s.submit(*this, h, !body.empty());
    if (id < 0) reset = refused = true;
    if (after_ready) after_ready(*this);
  }
  void on_h2_failure(PoolFailure w, int e) override {
    check_alive();
    failed = true;
    why = w;
    error = e;
  }
  void on_h2_headers(int st, const http::HeaderPairs&, bool end) override {
    check_alive();
    status = st;
    if (end) ended = true;
  }
  void on_h2_data(const uint8_t* d, size_t n) override {
    check_alive();
    got.append(reinterpret_cast<const char*>(d), n);
    if (auto_consume) session->consume(id, n);
    else held += n;
  }
  void on_h2_trailers(const http::HeaderPairs& t) override {
    check_alive();
    for (auto& [k, v] : t) trailers.emplace_back(std::string(k), std::string(v));
  }
  void on_h2_end() override {
    check_alive();
    ended = true;
  }
  void on_h2_reset(bool r) override {
    check_alive();
    reset = true;
    refused = r;
  }
  size_t h2_request_body(uint8_t* buf, size_t len, bool& eof) override {
    if (hold_body) {
      eof = false;
      return 0;
    }
    size_t n = std::min(len, body.size() - body_sent);
    std::memcpy(buf, body.data() + body_sent, n);
    body_sent += n;
    eof = body_sent == body.size();
    return n;
  }
  void cancel() {
    cancelled = true;
    session->cancel(id);
  }
};

// A pool (make() it after setting cfg, or construct with the port) and the test's users.
struct Fixture {
  core::EventLoop loop;
  core::BufferPool buffers;
  stats::ClusterStats stats;
  config::PoolConfig cfg;
  std::unique_ptr<H2Pool> pool;
  std::vector<std::unique_ptr<User>> users;

  Fixture() = default;
  explicit Fixture(uint16_t port, uint32_t cap = 100, std::shared_ptr<const tls::ClientContext> tls = nullptr) {
    make(port, cap, std::move(tls));
  }
  void make(uint16_t port, uint32_t cap = 100, std::shared_ptr<const tls::ClientContext> tls = nullptr) {
    pool = std::make_unique<H2Pool>(loop, buffers, hop::testing::loopback(port), "127.0.0.1:" + std::to_string(port),
                                    "localhost", cfg, config::UpstreamHttp2Config{cap}, &stats, std::move(tls));
  }
  ~Fixture() {
    users.clear();  // the users go first, then the pool
    pool.reset();
    loop.run_deferred_now();
  }
  // A new user, to set up and acquire.
  User& add() {
    users.push_back(std::make_unique<User>());
    return *users.back();
  }
  // A new user, acquired.
  User& acquire() {
    User& u = add();
    pool->acquire(u);
    return u;
  }
  bool all_done(int ms = 5000) {
    return run_until(loop, [&] {
      return std::all_of(users.begin(), users.end(), [](auto& u) { return u->done(); });
    }, ms);
  }
};

using Files = std::vector<std::pair<std::string, std::string>>;  // (name, body)

// nghttpd serving `files` from a fresh document root.
struct NghttpdServer {
  hop::testing::DocRoot root;
  hop::testing::Nghttpd server;

  explicit NghttpdServer(const Files& files, bool tls = false, std::vector<std::string> extra = {})
      : server(fill(root, files), tls, std::move(extra)) {}
  bool ready() const { return server.ready(); }
  uint16_t port() const { return server.port(); }

 private:
  static const std::string& fill(hop::testing::DocRoot& root, const Files& files) {
    for (auto& [name, body] : files) root.add(name, body);
    return root.dir();
  }
};

// A client context that trusts the test CA and offers ALPN h2.
auto h2_client_context(std::string& err) {
  config::TlsClientConfig tc;
  tc.ca_file = hop::testing::cert_path("ca.pem");
  return tls::ClientContext::create(tc, tls::ClientAlpn::kH2, err);
}

// nghttpd is the reference HTTP/2 server these tests talk to. scripts/install-deps --test
// installs it, so a missing one is a failure: a skipped test would pass CI untested.
#define REQUIRE_NGHTTPD()                     \
  if (hop::testing::nghttpd_path().empty()) \
    GTEST_FAIL() << "nghttpd not installed (Debian package nghttp2-server: scripts/install-deps --test)";

std::string pattern(size_t n) {
  std::string s(n, 'x');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

}  // namespace

// ---- against nghttpd -------------------------------------------------------------------

TEST(H2Pool, GetReturnsStatusAndBody) {
  REQUIRE_NGHTTPD();
  NghttpdServer server(Files{{"hello", "hello over h2c\n"}});
  ASSERT_TRUE(server.ready());
  Fixture f(server.port());
  f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(f.users[0]->status, 200);
  EXPECT_EQ(f.users[0]->got, "hello over h2c\n");
  EXPECT_TRUE(f.users[0]->ended);
  EXPECT_TRUE(f.users[0]->fresh);
  EXPECT_EQ(f.stats.connections_opened.value(), 1u);

  // A second request reuses the session.
  f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(f.users[1]->status, 200);
  EXPECT_FALSE(f.users[1]->fresh);
  EXPECT_EQ(f.stats.connections_opened.value(), 1u);
  EXPECT_EQ(f.pool->total_connections(), 1u);
  for (auto& u : f.users) EXPECT_EQ(u->late_calls, 0);
}

TEST(H2Pool, ConcurrentStreamsShareConnectionsUpToTheCap) {
  REQUIRE_NGHTTPD();
  NghttpdServer server(Files{{"hello", "hi\n"}});
  ASSERT_TRUE(server.ready());
  const uint32_t cap = 10;
  Fixture f(server.port(), cap);
  for (int i = 0; i < 50; ++i) f.acquire();
  EXPECT_EQ(f.pool->pending(), 50u);
  ASSERT_TRUE(f.all_done());
  for (auto& u : f.users) {
    EXPECT_EQ(u->status, 200);
    EXPECT_EQ(u->got, "hi\n");
  }
  EXPECT_LE(f.stats.connections_opened.value(), (50u + cap - 1) / cap);
  EXPECT_EQ(f.pool->pending(), 0u);
  EXPECT_EQ(f.stats.pending.value(), 0);
}

TEST(H2Pool, RequestBodyIsDelivered) {
  REQUIRE_NGHTTPD();
  // nghttpd answers POST to a missing path with 404; --echo-upload sends the body back.
  NghttpdServer server(Files{}, false, {"--echo-upload"});
  ASSERT_TRUE(server.ready());
  Fixture f(server.port());
  User& u = f.add();
  u.method = "POST";
  u.path = "/upload";
  u.body = pattern(300 * 1024);  // beyond the peer's 64 KiB initial window: flow control runs
  f.pool->acquire(u);
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(u.status, 200);
  EXPECT_EQ(u.got.size(), u.body.size());
  EXPECT_TRUE(u.got == u.body);
}

TEST(H2Pool, DeferredRequestBodyResumes) {
  REQUIRE_NGHTTPD();
  NghttpdServer server(Files{}, false, {"--echo-upload"});
  ASSERT_TRUE(server.ready());
  Fixture f(server.port());
  User& u = f.add();
  u.method = "PUT";
  u.path = "/later";
  u.body = "arrives late";
  u.hold_body = true;
  f.pool->acquire(u);
  core::Timer release(f.loop, [&] {
    u.hold_body = false;
    u.session->resume_body(u.id);
  });
  release.arm(core::Millis(50));
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(u.status, 200);
  EXPECT_EQ(u.got, "arrives late");
}

TEST(H2Pool, TrailersFollowTheBody) {
  REQUIRE_NGHTTPD();
  NghttpdServer server(Files{{"t", "body\n"}}, false, {"--trailer=x-checksum: 42"});
  ASSERT_TRUE(server.ready());
  Fixture f(server.port());
  User& u = f.add();
  u.path = "/t";
  f.pool->acquire(u);
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(u.got, "body\n");
  ASSERT_EQ(u.trailers.size(), 1u);
  EXPECT_EQ(u.trailers[0].first, "x-checksum");
  EXPECT_EQ(u.trailers[0].second, "42");
  EXPECT_TRUE(u.ended);
  EXPECT_EQ(u.late_calls, 0);
}

TEST(H2Pool, ResponseWindowOpensOnlyAsTheUserConsumes) {
  REQUIRE_NGHTTPD();
  const size_t size = 1024 * 1024;
  NghttpdServer server(Files{{"big", pattern(size)}});
  ASSERT_TRUE(server.ready());
  Fixture f(server.port());
  User& u = f.add();
  u.path = "/big";
  u.auto_consume = false;
  f.pool->acquire(u);
  EXPECT_FALSE(run_until(f.loop, [&] { return u.done(); }, 300));
  EXPECT_EQ(u.got.size(), 64u * 1024);  // the stream window, and not a byte more
  // Consume as a client that drains slowly would: the rest follows.
  core::Timer* self = nullptr;
  core::Timer drip(f.loop, [&] {
    if (u.held && !u.done()) {
      u.session->consume(u.id, u.held);
      u.held = 0;
    }
    self->arm(core::Millis(2));
  });
  self = &drip;
  drip.arm(core::Millis(0));
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(u.got.size(), size);
  EXPECT_TRUE(u.ended);
}

TEST(H2Pool, CancelledStreamGetsNoCallbacksAndFreesItsSlot) {
  REQUIRE_NGHTTPD();
  NghttpdServer server(Files{{"big", pattern(512 * 1024)}, {"hello", "hi\n"}});
  ASSERT_TRUE(server.ready());
  Fixture f;
  f.cfg.max_connections = 1;
  f.make(server.port(), 1);  // one stream, one connection: the slot must come back
  User& a = f.add();
  a.path = "/big";
  a.auto_consume = false;
  a.after_ready = [](User& u) { u.cancel(); };  // gives up at once, before a frame was sent
  User& b = f.add();
  f.pool->acquire(a);
  f.pool->acquire(b);
  EXPECT_TRUE(run_until(f.loop, [&] { return b.done(); }));
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(a.late_calls, 0);
  EXPECT_FALSE(a.done());
  EXPECT_EQ(f.stats.connections_opened.value(), 1u);

  // And a cancel mid-response (window full, data queued) leaves the session usable.
  User& c = f.add();
  c.path = "/big";
  c.auto_consume = false;
  User& d = f.add();
  f.pool->acquire(c);
  run_until(f.loop, [&] { return c.got.size() >= 256u * 1024; });
  c.cancel();
  f.pool->acquire(d);
  EXPECT_TRUE(run_until(f.loop, [&] { return d.done(); }));
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(c.late_calls, 0);
  EXPECT_EQ(f.stats.connections_opened.value(), 1u);
}

TEST(H2Pool, IdleSessionClosesAfterTheIdleTimeout) {
  REQUIRE_NGHTTPD();
  NghttpdServer server(Files{{"hello", "hi\n"}});
  ASSERT_TRUE(server.ready());
  Fixture f;
  f.cfg.idle_timeout = std::chrono::milliseconds(50);
  f.make(server.port());
  f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(f.pool->total_connections(), 1u);
  EXPECT_TRUE(run_until(f.loop, [&] { return f.pool->total_connections() == 0; }, 1000));
  EXPECT_TRUE(f.pool->idle_and_empty());
  EXPECT_EQ(f.stats.active_connections.value(), 0);
}

TEST(H2Pool, H2OverTlsNegotiatesAlpn) {
  REQUIRE_NGHTTPD();
  NghttpdServer server(Files{{"hello", "hello over h2\n"}}, true);
  ASSERT_TRUE(server.ready());
  std::string err;
  auto ctx = h2_client_context(err);
  ASSERT_TRUE(ctx) << err;
  Fixture f(server.port(), 100, ctx);
  for (int i = 0; i < 3; ++i) f.acquire();
  ASSERT_TRUE(f.all_done());
  for (auto& u : f.users) {
    EXPECT_EQ(u->status, 200);
    EXPECT_EQ(u->got, "hello over h2\n");
  }
  EXPECT_EQ(f.stats.connections_opened.value(), 1u);
}

TEST(H2Pool, TlsPeerWithoutH2IsMarkedHttp1Only) {
  hop::testing::TlsH1Server server;  // selects http/1.1 or nothing
  std::string err;
  auto ctx = h2_client_context(err);
  ASSERT_TRUE(ctx) << err;
  Fixture f(server.port(), 100, ctx);
  User& u = f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_TRUE(u.failed);
  EXPECT_EQ(u.why, PoolFailure::kHttp1Only);
  EXPECT_EQ(u.error, ENOPROTOOPT);
  EXPECT_TRUE(f.pool->http1_only());  // an `auto` cluster now sends this host's requests over HTTP/1.1
  EXPECT_EQ(f.pool->total_connections(), 0u);
}

// ---- without a server, or with a scripted one ------------------------------------------

TEST(H2Pool, RefusedConnectFailsQueuedUsers) {
  Fixture f(hop::testing::closed_port());
  for (int i = 0; i < 3; ++i) f.acquire();
  ASSERT_TRUE(f.all_done());
  for (auto& u : f.users) {
    EXPECT_TRUE(u->failed);
    EXPECT_EQ(u->why, PoolFailure::kConnectFailed);
    EXPECT_EQ(u->error, ECONNREFUSED);
  }
  EXPECT_EQ(f.stats.connect_failures.value(), 1u);
  EXPECT_TRUE(f.pool->idle_and_empty());
  EXPECT_EQ(f.stats.active_connections.value(), 0);
}

TEST(H2Pool, QueueBeyondMaxPendingOverflows) {
  Fixture f;
  f.cfg.max_connections = 1;
  f.cfg.max_pending = 3;
  f.make(hop::testing::closed_port(), 2);
  for (int i = 0; i < 5; ++i) f.acquire();
  // Three wait (one connection is being opened, it can take two of them); the rest overflow.
  EXPECT_EQ(f.pool->pending(), 3u);
  for (int i = 3; i < 5; ++i) {
    EXPECT_TRUE(f.users[i]->failed);
    EXPECT_EQ(f.users[i]->why, PoolFailure::kOverflow);
  }
  EXPECT_EQ(f.stats.pool_overflow.value(), 2u);
  f.pool->cancel(*f.users[2]);  // a waiter that gives up leaves the queue
  EXPECT_EQ(f.pool->pending(), 2u);
  f.users.erase(f.users.begin() + 2);
  ASSERT_TRUE(f.all_done());
}

TEST(H2Pool, ConnectTimeoutFailsWaiters) {
  // A listener that never accepts still completes TCP handshakes until its backlog is
  // full; a TLS handshake against it never finishes, so the connect timeout fires.
  uint16_t port = 0;
  int lfd = hop::testing::listen_loopback(port);
  std::string err;
  auto ctx = h2_client_context(err);
  ASSERT_TRUE(ctx) << err;
  Fixture f;
  f.cfg.connect_timeout = std::chrono::milliseconds(50);
  f.make(port, 100, ctx);
  User& u = f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(u.why, PoolFailure::kConnectTimeout);
  EXPECT_EQ(u.error, ETIMEDOUT);
  ::close(lfd);
}

TEST(H2Pool, RefusedStreamIsResetAsRefused) {
  using namespace hop::testing;
  ScriptedH2Server server([](uint32_t stream, int) { return frame(kRst, 0, stream, u32(7 /*REFUSED_STREAM*/)); });
  Fixture f(server.port());
  User& u = f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_TRUE(u.reset);
  EXPECT_TRUE(u.refused);
}

TEST(H2Pool, GoawayRefusesLaterStreamsAndFinishesEarlierOnes) {
  using namespace hop::testing;
  // The first request (stream 1) is answered after a GOAWAY whose last-stream-id is 1;
  // the others were never processed.
  ScriptedH2Server server([](uint32_t stream, int nth) -> std::string {
    if (nth == 0) return "";  // hold stream 1 until the others arrive
    if (nth == 2)
      return frame(kGoaway, 0, 0, u32(1) + u32(0)) + frame(kHeaders, kEndHeaders, 1, status_block(200)) +
             frame(kData, kEndStream, 1, "ok");
    return "";
  });
  Fixture f(server.port());
  for (int i = 0; i < 3; ++i) f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_TRUE(f.users[0]->ended);
  EXPECT_EQ(f.users[0]->status, 200);
  EXPECT_EQ(f.users[0]->got, "ok");
  for (int i = 1; i < 3; ++i) {
    EXPECT_TRUE(f.users[i]->reset);
    EXPECT_TRUE(f.users[i]->refused);
  }
  // The session takes no new streams and closes once empty: the next request opens another.
  EXPECT_TRUE(run_until(f.loop, [&] { return f.pool->total_connections() == 0; }, 1000));
}

TEST(H2Pool, InformationalResponsesAreSkipped) {
  using namespace hop::testing;
  ScriptedH2Server server([](uint32_t stream, int) {
    return frame(kHeaders, kEndHeaders, stream, status_block(103)) +
           frame(kHeaders, kEndHeaders | kEndStream, stream, status_block(204));
  });
  Fixture f(server.port());
  User& u = f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(u.status, 204);
  EXPECT_TRUE(u.ended);
  EXPECT_EQ(u.late_calls, 0);
}

TEST(H2Pool, DroppedConnectionResetsOpenStreams) {
  using namespace hop::testing;
  ScriptedH2Server server([](uint32_t stream, int nth) -> std::string {
    if (nth == 0) return frame(kHeaders, kEndHeaders, stream, status_block(200)) + frame(kData, 0, stream, "par");
    return "CLOSE";
  });
  Fixture f(server.port());
  f.acquire();
  ASSERT_TRUE(run_until(f.loop, [&] { return f.users[0]->got == "par"; }));
  f.acquire();
  ASSERT_TRUE(f.all_done());
  EXPECT_EQ(f.users[0]->status, 200);
  EXPECT_TRUE(f.users[0]->reset);
  EXPECT_FALSE(f.users[0]->refused);
  EXPECT_TRUE(f.users[1]->reset);
  EXPECT_EQ(f.pool->total_connections(), 0u);
}
