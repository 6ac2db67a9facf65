// Runs the checker on a real loop against small real servers on 127.0.0.1.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string_view>
#include <thread>

#include "health/health_checker.h"

using namespace hop;
using namespace std::chrono_literals;

namespace {

// An HTTP server on its own thread that answers every connection with the current status,
// or (status 0) accepts and stays silent so a probe times out.
class TinyHttpServer {
 public:
  TinyHttpServer() {
    auto a = core::Address::parse("127.0.0.1:0");
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::bind(fd_, a->sa(), a->len);
    ::listen(fd_, 64);
    addr_ = *core::local_address(fd_);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  const core::Address& address() const { return addr_; }
  std::atomic<int> status{200};
  std::atomic<int> requests{0};
  std::atomic<int> other_requests{0};  // of them, those for /other

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[1024];
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n > 0 && std::string_view(buf, size_t(n)).starts_with("GET /other ")) other_requests++;
      requests++;
      int s = status.load();
      if (s == 0) {
        std::this_thread::sleep_for(300ms);
      } else {
        std::string resp = "HTTP/1.1 " + std::to_string(s) + " X\r\nContent-Length: 0\r\n\r\n";
        ssize_t w = ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        (void)w;
      }
      ::close(c);
    }
  }
  int fd_;
  core::Address addr_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

health::CheckSpec fast_http() {
  health::CheckSpec s;
  s.interval = 20ms;
  s.timeout = 100ms;
  s.jitter = 0;
  s.unhealthy_threshold = 2;
  s.healthy_threshold = 2;
  return s;
}

// Runs the loop until pred() holds or the deadline passes.
bool run_until(core::EventLoop& loop, std::function<bool()> pred, core::Millis limit = 3000ms) {
  bool met = false;
  core::Timer poll(loop, [] {});
  std::function<void()> check;
  core::Timer deadline(loop, [&] { loop.stop(); });
  core::Timer tick(loop, [&] {
    if (pred()) {
      met = true;
      loop.stop();
    } else {
      check();
    }
  });
  check = [&] { tick.arm(5ms); };
  check();
  deadline.arm(limit);
  loop.run();
  return met;
}

}  // namespace

TEST(HealthChecker, GoesUnhealthyAfterThresholdAndBackAfterThreshold) {
  TinyHttpServer server;
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto state = checker.watch(server.address(), fast_http());
  EXPECT_TRUE(state->healthy());
  ASSERT_TRUE(run_until(loop, [&] { return state->checks() >= 2; }));
  EXPECT_TRUE(state->healthy());
  EXPECT_NE(state->last_result().find("200"), std::string::npos);

  server.status = 503;
  ASSERT_TRUE(run_until(loop, [&] { return !state->healthy(); }));
  EXPECT_GE(state->consecutive_failures(), 2u);
  EXPECT_NE(state->last_result().find("503"), std::string::npos);

  server.status = 204;
  ASSERT_TRUE(run_until(loop, [&] { return state->healthy(); }));
  EXPECT_GE(state->consecutive_successes(), 2u);
}

TEST(HealthChecker, OneFailureBelowThresholdKeepsHealthy) {
  health::CheckSpec spec = fast_http();
  spec.unhealthy_threshold = 3;
  health::HealthState s(*core::Address::parse("127.0.0.1:1"), spec);
  s.record(false, "x");
  s.record(false, "x");
  s.record(true, "ok");
  s.record(false, "x");
  EXPECT_TRUE(s.healthy());
  s.record(false, "x");
  s.record(false, "x");
  EXPECT_FALSE(s.healthy());
}

TEST(HealthChecker, RefusedConnectionIsAFailure) {
  // Bind then close to get a port nobody listens on.
  int fd = core::listen_socket(*core::Address::parse("127.0.0.1:0"), core::SocketKind::kStream, false);
  auto addr = *core::local_address(fd);
  ::close(fd);
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto state = checker.watch(addr, fast_http());
  ASSERT_TRUE(run_until(loop, [&] { return !state->healthy(); }));
  EXPECT_EQ(state->last_result(), "connect refused");
}

TEST(HealthChecker, SilentServerTimesOut) {
  TinyHttpServer server;
  server.status = 0;
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto spec = fast_http();
  spec.timeout = 50ms;
  spec.unhealthy_threshold = 1;
  auto state = checker.watch(server.address(), spec);
  ASSERT_TRUE(run_until(loop, [&] { return !state->healthy(); }));
  EXPECT_EQ(state->last_result(), "timeout after 50ms");
}

TEST(HealthChecker, StatusOutsideExpectedRangesIsAFailure) {
  TinyHttpServer server;
  server.status = 302;
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto spec = fast_http();
  spec.expected_statuses = {{200, 299}};
  auto state = checker.watch(server.address(), spec);
  ASSERT_TRUE(run_until(loop, [&] { return !state->healthy(); }));
  EXPECT_NE(state->last_result().find("302"), std::string::npos);
}

TEST(HealthChecker, TcpCheckSucceedsOnConnect) {
  TinyHttpServer server;
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto spec = fast_http();
  spec.kind = health::CheckSpec::Kind::kTcp;
  auto state = checker.watch(server.address(), spec);
  ASSERT_TRUE(run_until(loop, [&] { return state->consecutive_successes() >= 2; }));
  EXPECT_NE(state->last_result().find("connected"), std::string::npos);
}

TEST(HealthChecker, SamePairSharesStateAndUnheldStateStopsProbing) {
  TinyHttpServer server;
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  auto a = checker.watch(server.address(), fast_http());
  auto b = checker.watch(server.address(), fast_http());
  EXPECT_EQ(a, b);
  EXPECT_EQ(checker.watched(), 1u);
  auto other = fast_http();
  other.path = "/other";
  auto c = checker.watch(server.address(), other);
  EXPECT_NE(a, c);
  EXPECT_EQ(checker.watched(), 2u);
  a.reset();
  b.reset();
  ASSERT_TRUE(run_until(loop, [&] { return checker.watched() == 1; }));
  auto released = [&] { return server.requests - server.other_requests; };
  int released_before = released();
  int held_before = server.other_requests;
  // Counted, not timed: while the held spec (/other) is probed five more times, the released
  // one gets no probe beyond one that was already on its way when it was let go.
  ASSERT_TRUE(run_until(loop, [&] { return server.other_requests - held_before >= 5; }))
      << "the spec still held stopped being probed";
  EXPECT_LE(released() - released_before, 1) << "the released spec is still probed";
}

TEST(HealthCheckSpec, ParsesShortAndLongHttpForms) {
  config::ConfigErrors errs("t.yaml");
  health::CheckSpec s;
  ASSERT_TRUE(health::parse_check_spec(
      YAML::Load("{http: /health, interval: 1s, timeout: 500ms, jitter: 10%, unhealthy: 3, healthy: 2}"), s, errs))
      << errs.to_string();
  EXPECT_EQ(s.path, "/health");
  EXPECT_EQ(s.interval.count(), 1000);
  EXPECT_EQ(s.timeout.count(), 500);
  EXPECT_DOUBLE_EQ(s.jitter, 0.1);
  EXPECT_EQ(s.unhealthy_threshold, 3u);

  health::CheckSpec l;
  ASSERT_TRUE(health::parse_check_spec(
      YAML::Load("{http: {path: /ready, method: HEAD, host: svc.local, expect: [200, \"300-302\"]}}"), l, errs))
      << errs.to_string();
  EXPECT_EQ(l.method, "HEAD");
  EXPECT_EQ(l.host, "svc.local");
  ASSERT_EQ(l.expected_statuses.size(), 2u);
  EXPECT_EQ(l.expected_statuses[1], std::make_pair(300, 302));

  health::CheckSpec t;
  ASSERT_TRUE(health::parse_check_spec(YAML::Load("{tcp: true}"), t, errs));
  EXPECT_EQ(t.kind, health::CheckSpec::Kind::kTcp);
}

TEST(HealthCheckSpec, RejectsBadValuesWithPositions) {
  config::ConfigErrors errs("t.yaml");
  health::CheckSpec s;
  EXPECT_FALSE(health::parse_check_spec(YAML::Load("{http: /a, tcp: true}"), s, errs));
  EXPECT_FALSE(health::parse_check_spec(YAML::Load("{http: {path: \"/a\\r\\nX: y\"}}"), s, errs));
  EXPECT_FALSE(health::parse_check_spec(YAML::Load("{http: {expect: [\"99-700\"]}}"), s, errs));
  EXPECT_FALSE(health::parse_check_spec(YAML::Load("{unhealthy: 0}"), s, errs));
  EXPECT_FALSE(health::parse_check_spec(YAML::Load("{bogus: 1}"), s, errs));
  EXPECT_GE(errs.all().size(), 5u);
}
