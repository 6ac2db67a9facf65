// UpstreamPool over TLS: the handshake runs inside the pool, connections are handed out
// only once it is done, and an idle connection survives the session tickets a TLS 1.3
// server sends after the handshake.
#include <gtest/gtest.h>

#include <string>

#include "tls/client_context.h"
#include "upstream/pool.h"
#include "upstream_test_servers.h"

using namespace hop;
using namespace hop::upstream;
using hop::testing::run_until;

namespace {

struct H1Client final : PoolWaiter, UpstreamUser {
  explicit H1Client(UpstreamPool& p) : pool(p) {}
  UpstreamPool& pool;
  UpstreamConnection* conn = nullptr;
  bool fresh = false, failed = false, done = false, tls = false;
  PoolFailure why{};
  int error = 0;
  std::string response;

  void on_pool_ready(UpstreamConnection& c, bool f) override {
    conn = &c;
    fresh = f;
    tls = c.tls();
    c.attach(this);
    static const char line[] = "GET / HTTP/1.1\r\n";
    static const char host[] = "Host: localhost\r\n\r\n";
    iovec iov[2] = {{const_cast<char*>(line), sizeof line - 1}, {const_cast<char*>(host), sizeof host - 1}};
    ssize_t n = c.writev(iov, 2);
    EXPECT_EQ(n, static_cast<ssize_t>(sizeof line - 1 + sizeof host - 1));
  }
  void on_pool_failure(PoolFailure w, int e) override {
    failed = true;
    why = w;
    error = e;
  }
  void on_upstream_io(UpstreamConnection& c, uint32_t) override {
    while (c.read_into_buffer() > 0) {
    }
    if (c.in().view().ends_with("hello")) {
      response = std::string(c.in().view());
      c.in().consume(c.in().size());
      done = true;
      c.attach(nullptr);
      conn = nullptr;
      pool.release(c, true);
    }
  }
};

struct Fixture {
  core::EventLoop loop;
  core::BufferPool buffers;
  stats::ClusterStats stats;
  std::unique_ptr<UpstreamPool> pool;
  Fixture(uint16_t port, config::PoolConfig cfg = {}) {
    pool = std::make_unique<UpstreamPool>(loop, buffers, hop::testing::loopback(port), "h", cfg, &stats, 16 * 1024);
    config::TlsClientConfig tc;
    tc.ca_file = hop::testing::cert_path("ca.pem");
    std::string err;
    auto ctx = tls::ClientContext::create(tc, tls::ClientAlpn::kHttp1, err);
    EXPECT_TRUE(ctx) << err;
    pool->set_tls(ctx, "localhost");
  }
  ~Fixture() {
    pool.reset();
    loop.run_deferred_now();
  }
};

}  // namespace

TEST(UpstreamPoolTls, HandsOutConnectionsAfterTheHandshake) {
  hop::testing::TlsH1Server server;
  Fixture f(server.port());
  H1Client a(*f.pool);
  f.pool->acquire(a);
  ASSERT_TRUE(run_until(f.loop, [&] { return a.done || a.failed; }));
  ASSERT_FALSE(a.failed) << to_string(a.why) << " " << a.error;
  EXPECT_TRUE(a.fresh);
  EXPECT_TRUE(a.tls);
  EXPECT_NE(a.response.find("200 OK"), std::string::npos);
  // Reused: same TLS connection.
  H1Client b(*f.pool);
  f.pool->acquire(b);
  ASSERT_TRUE(run_until(f.loop, [&] { return b.done || b.failed; }));
  EXPECT_FALSE(b.fresh);
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests(), 2);
}

TEST(UpstreamPoolTls, IdleConnectionSurvivesSessionTickets) {
  hop::testing::TlsH1Server server;
  Fixture f(server.port());
  // The waiter leaves before the connect completes: the connection goes idle straight
  // after its handshake, which is when a TLS 1.3 server's tickets arrive.
  H1Client gone(*f.pool);
  f.pool->acquire(gone);
  f.pool->cancel(gone);
  run_until(f.loop, [&] { return false; }, 200);
  EXPECT_EQ(f.pool->idle_connections(), 1u);
  H1Client b(*f.pool);
  f.pool->acquire(b);
  ASSERT_TRUE(run_until(f.loop, [&] { return b.done || b.failed; }));
  EXPECT_FALSE(b.failed);
  EXPECT_FALSE(b.fresh);
  EXPECT_EQ(server.connections(), 1);
}

TEST(UpstreamPoolTls, HandshakeFailureFailsTheWaiter) {
  hop::testing::TlsH1Server server;  // its certificate is for localhost
  Fixture f(server.port());
  config::TlsClientConfig tc;
  tc.ca_file = hop::testing::cert_path("ca.pem");
  std::string err;
  f.pool->set_tls(tls::ClientContext::create(tc, tls::ClientAlpn::kHttp1, err), "not-localhost.example");
  H1Client a(*f.pool);
  f.pool->acquire(a);
  ASSERT_TRUE(run_until(f.loop, [&] { return a.done || a.failed; }));
  EXPECT_TRUE(a.failed);
  EXPECT_EQ(a.why, PoolFailure::kConnectFailed);
  EXPECT_EQ(f.pool->total_connections(), 0u);
  EXPECT_EQ(f.stats.connect_failures.value(), 1u);
}
