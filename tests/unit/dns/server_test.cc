// A real DnsServer on a loop thread, queried over real UDP and TCP sockets on 127.0.0.1.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "conformance_cases.h"
#include "dns_test_util.h"

using namespace hop;
using namespace hop::dns;
using namespace hop::dns::testing;
using namespace std::chrono_literals;

namespace {

std::string example_dns_section() {
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../../examples/dns.yaml";
  YAML::Node root = YAML::LoadFile(path.string());
  std::stringstream ss;
  ss << root["dns"];
  return ss.str();
}

// Answers GET /health with 200 while `up`, else 503, and counts the probes it answered in
// the current state (since the last set_up()).
class HealthEndpoint {
 public:
  HealthEndpoint() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = *core::Address::from_ip("127.0.0.1", 0);
    ::bind(fd_, a.sa(), a.len);
    ::listen(fd_, 16);
    port_ = core::local_address(fd_)->port();
    thread_ = std::thread([this] { serve(); });
  }
  ~HealthEndpoint() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  void set_up(bool up) {
    std::lock_guard<std::mutex> lock(mu_);
    up_ = up;
    answered_ = 0;
  }
  int answered() {
    std::lock_guard<std::mutex> lock(mu_);
    return answered_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[512];
      (void)!::recv(c, buf, sizeof buf, 0);
      std::lock_guard<std::mutex> lock(mu_);  // a change waits for the answer in progress
      const std::string resp = up_ ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                                   : "HTTP/1.1 503 Down\r\nContent-Length: 0\r\n\r\n";
      (void)!::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ++answered_;
      ::close(c);
    }
  }
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  bool up_ = true;
  int answered_ = 0;
  std::thread thread_;
};

}  // namespace

TEST(DnsServer, AnswersOverUdpAndTcp) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  UdpClient u(s.udp);
  auto r = parse_response(*u.ask(make_query("ns1.hop.test.", type::kA)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a_values(), std::vector<std::string>{"127.0.0.1"});
  TcpClient t(s.tcp);
  ASSERT_TRUE(t.connected);
  t.send(make_query("ns1.hop.test.", type::kA));
  auto tr = parse_response(*t.recv());
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->a_values(), std::vector<std::string>{"127.0.0.1"});
}

TEST(DnsServer, PipelinedTcpQueriesAreAnsweredInOrder) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  TcpClient t(s.tcp);
  std::vector<uint8_t> burst;
  for (uint16_t id = 1; id <= 50; ++id) {
    QueryOptions o;
    o.id = id;
    auto q = make_query(id % 2 ? "big.hop.test." : "ns1.hop.test.", id % 2 ? type::kTXT : type::kA, o);
    burst.push_back(uint8_t(q.size() >> 8));
    burst.push_back(uint8_t(q.size()));
    burst.insert(burst.end(), q.begin(), q.end());
  }
  t.send_raw(burst);  // all fifty in one write
  for (uint16_t id = 1; id <= 50; ++id) {
    auto m = t.recv();
    ASSERT_TRUE(m) << "answer " << id;
    auto r = parse_response(*m);
    EXPECT_EQ(r->id, id);
    EXPECT_FALSE(r->tc());
    EXPECT_EQ(r->answer.size(), id % 2 ? 6u : 1u);
  }
}

namespace {
std::vector<uint8_t> tcp_burst(uint16_t count, const char* name, uint16_t qtype) {
  std::vector<uint8_t> burst;
  for (uint16_t id = 1; id <= count; ++id) {
    QueryOptions o;
    o.id = id;
    auto q = make_query(name, qtype, o);
    burst.push_back(uint8_t(q.size() >> 8));
    burst.push_back(uint8_t(q.size()));
    burst.insert(burst.end(), q.begin(), q.end());
  }
  return burst;
}

void expect_answers_in_order(TcpClient& t, uint16_t count) {
  for (uint16_t id = 1; id <= count; ++id) {
    auto m = t.recv();
    ASSERT_TRUE(m) << "answer " << id << " of " << count << " never came";
    EXPECT_EQ(parse_response(*m)->id, id);
  }
}
}  // namespace

// 200 answers of ~1.5 KiB are more than the 128 KiB a connection buffers: the rest are
// answered as the client reads, also after the client's FIN.
TEST(DnsServer, PipelinedAnswersPastTheOutputBoundAllArrive) {
  for (bool half_close : {false, true}) {
    SCOPED_TRACE(half_close ? "half-closed" : "open");
    ServerThread s(example_dns_section());
    ASSERT_TRUE(s.ok) << s.error;
    TcpClient t(s.tcp);
    t.send_raw(tcp_burst(200, "big.hop.test.", type::kTXT));
    if (half_close) t.shutdown_write();
    expect_answers_in_order(t, 200);
    if (half_close) {
      EXPECT_TRUE(t.closed_by_peer());
    }
  }
}

TEST(DnsServer, StopAnswersEveryQueryAlreadyReadBeforeClosing) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  TcpClient t(s.tcp);
  t.send_raw(tcp_burst(200, "big.hop.test.", type::kTXT));  // ~7 KiB: read in one go
  ASSERT_TRUE(wait_until([&] { return s.metrics().tcp_queries() > 0; })) << "the burst was never read";
  ASSERT_TRUE(s.on_loop([&] { s.server().stop(); }));
  expect_answers_in_order(t, 200);
  EXPECT_TRUE(t.closed_by_peer());
}

// A client with a deep pipeline gets tcp_max_pipelined answers per turn of the loop, then
// the worker's other sockets run: it cannot hold the thread. Observed from inside the
// loop by a level-triggered pipe, which fires once in every turn.
namespace {
struct TurnObserver final : core::IoHandler {
  DnsMetrics* metrics = nullptr;
  core::EventLoop* loop = nullptr;
  int fd = -1;
  uint64_t want = 0;
  std::vector<uint64_t> seen;  // tcp queries answered so far, one entry per loop turn
  std::atomic<bool> done{false};
  void on_io(uint32_t) override {
    seen.push_back(metrics->tcp_queries());
    if (seen.back() >= want || seen.size() > 1000000) {
      loop->remove(fd);
      done = true;
    }
  }
};
}  // namespace

TEST(DnsServer, ADeepTcpPipelineYieldsToTheRestOfTheWorker) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "x", 1), 1);  // stays readable: level-triggered, every turn
  TurnObserver obs;
  obs.metrics = &s.metrics();
  obs.loop = &s.loop();
  obs.fd = p[0];
  obs.want = 1000;
  ASSERT_TRUE(s.on_loop([&] { ASSERT_TRUE(s.loop().add(p[0], &obs, EPOLLIN)); }));
  TcpClient t(s.tcp);
  t.send_raw(tcp_burst(1000, "ns1.hop.test.", type::kA));  // ~46 KiB of answers: under the output bound
  expect_answers_in_order(t, 1000);
  ASSERT_TRUE(wait_until([&] { return obs.done.load(); }));
  uint64_t most = 0;
  for (size_t i = 1; i < obs.seen.size(); ++i) most = std::max(most, obs.seen[i] - obs.seen[i - 1]);
  // 64 per turn from the resume timer, plus at most one read burst's worth from the socket.
  EXPECT_LE(most, 128u) << "answered in one turn of the loop";
  ASSERT_TRUE(s.on_loop([&] { s.loop().remove(p[0]); }));
  ::close(p[0]);
  ::close(p[1]);
}

TEST(DnsServer, TruncatedUdpAnswerIsCompleteOverTcp) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  UdpClient u(s.udp);
  auto m = u.ask(make_query("big.hop.test.", type::kTXT));
  ASSERT_TRUE(m);
  EXPECT_LE(m->size(), 1232u);
  EXPECT_TRUE(parse_response(*m)->tc());
  TcpClient t(s.tcp);
  t.send(make_query("big.hop.test.", type::kTXT));
  auto full = t.recv();
  ASSERT_TRUE(full);
  EXPECT_GT(full->size(), 1232u);
  EXPECT_EQ(parse_response(*full)->answer.size(), 6u);
}

TEST(DnsServer, MalformedPacketsGetFormErrOrAreDroppedAndServerKeepsAnswering) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  UdpClient u(s.udp);
  auto good = make_query("www.hop.test.", type::kA);
  // Truncated at every length.
  for (size_t cut = 0; cut < good.size(); ++cut) u.send(std::vector<uint8_t>(good.begin(), good.begin() + long(cut)));
  // Compression loop, label past the end, oversized datagram.
  u.send({0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1});
  u.send({0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 50, 'a', 0, 0, 1, 0, 1});
  u.send(std::vector<uint8_t>(9000, 0x41));
  // Random garbage.
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> junk(rng() % 600);
    for (auto& b : junk) b = uint8_t(rng());
    if (junk.size() > 2) junk[2] &= 0x7F;  // mostly queries, so most get an answer
    u.send(junk);
  }
  // Drain whatever came back; every answer must be well-formed.
  int answers = 0;
  while (auto m = u.recv(200)) {
    ASSERT_TRUE(parse_response(*m)) << "unparseable answer";
    ++answers;
  }
  EXPECT_GT(answers, 0);
  QueryOptions o;
  o.id = 777;
  auto r = parse_response(*u.ask(make_query("ns1.hop.test.", type::kA, o)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 777);
  EXPECT_EQ(r->rcode, rcode::kNoError);
}

TEST(DnsServer, TcpGarbageAndZeroLengthFramesCloseOnlyThatConnection) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  TcpClient bad(s.tcp);
  bad.send_raw({0, 0});
  EXPECT_TRUE(bad.closed_by_peer());
  TcpClient loopy(s.tcp);
  loopy.send({0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1});
  auto fe = parse_response(*loopy.recv());
  EXPECT_EQ(fe->rcode, rcode::kFormErr);
  TcpClient good(s.tcp);
  good.send(make_query("ns1.hop.test.", type::kA));
  EXPECT_TRUE(good.recv());
}

TEST(DnsServer, IdleTcpConnectionsAreClosed) {
  auto yaml = example_dns_section() + "\n";
  YAML::Node n = YAML::Load(yaml);
  n["tcp"]["idle_timeout"] = "200ms";
  std::stringstream ss;
  ss << n;
  ServerThread s(ss.str());
  ASSERT_TRUE(s.ok) << s.error;
  TcpClient t(s.tcp);
  t.send(make_query("ns1.hop.test.", type::kA));
  ASSERT_TRUE(t.recv());
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(t.closed_by_peer(2000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(DnsServer, ConnectionsOverTheLimitAreRefused) {
  YAML::Node n = YAML::Load(example_dns_section());
  n["tcp"]["max_connections"] = 2;
  std::stringstream ss;
  ss << n;
  ServerThread s(ss.str());
  ASSERT_TRUE(s.ok) << s.error;
  TcpClient a(s.tcp), b(s.tcp);
  a.send(make_query("ns1.hop.test.", type::kA));
  b.send(make_query("ns1.hop.test.", type::kA));
  ASSERT_TRUE(a.recv());
  ASSERT_TRUE(b.recv());
  TcpClient c(s.tcp);
  EXPECT_TRUE(c.closed_by_peer());
  size_t open = 0;
  ASSERT_TRUE(s.on_loop([&] { open = s.server().open_connections(); }));
  EXPECT_EQ(open, 2u);
}

TEST(DnsServer, StopFinishesQueriesInFlight) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  TcpClient t(s.tcp);
  t.send(make_query("ns1.hop.test.", type::kA));
  ASSERT_TRUE(t.recv());
  ASSERT_TRUE(s.on_loop([&] { s.server().stop(); }));
  EXPECT_TRUE(t.closed_by_peer());
  UdpClient u(s.udp);
  EXPECT_FALSE(u.ask(make_query("ns1.hop.test.", type::kA), 200));
}

TEST(DnsServer, WeightedSplitOverUdpIsWithinTwoPercent) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  UdpClient u(s.udp);
  std::map<std::string, int> seen;
  int lost = 0;
  for (int i = 0; i < 10000; ++i) {
    auto m = u.ask(make_query("www.hop.test.", type::kA));
    if (!m) {
      ++lost;
      continue;
    }
    seen[parse_response(*m)->a_values().at(0)]++;
  }
  int total = seen["10.0.0.1"] + seen["10.0.0.2"];
  EXPECT_LT(lost, 10);
  EXPECT_NEAR(seen["10.0.0.1"] * 100.0 / total, 90.0, 2.0);
  EXPECT_NEAR(seen["10.0.0.2"] * 100.0 / total, 10.0, 2.0);
}

TEST(DnsServer, FailsOverAfterThresholdFailedProbesAndBackAfterThresholdGoodOnes) {
  // interval 200 ms, no jitter, threshold 2 both ways. The probe timeout (2 s) is far above
  // what the endpoint needs on a loaded machine, so every probe's result is the endpoint's
  // answer, never a timeout.
  HealthEndpoint health;
  constexpr int kThreshold = 2;
  std::string yaml = R"(
zones:
  - origin: hop.test.
    records:
      - name: api
        type: A
        ttl: 30
        policy: failover
        answers:
          - value: 127.0.0.1
            role: primary
            health_check: {address: 127.0.0.1:)" +
                     std::to_string(health.port()) + R"(, http: /health, interval: 200ms, timeout: 2s, jitter: 0%, unhealthy: 2, healthy: 2}
          - {value: 127.0.0.2, role: secondary}
)";
  ServerThread s(yaml);
  ASSERT_TRUE(s.ok) << s.error;
  UdpClient u(s.udp);
  auto answer = [&]() -> std::string {
    auto m = u.ask(make_query("api.hop.test.", type::kA));
    auto r = m ? parse_response(*m) : std::nullopt;
    return r && !r->a_values().empty() ? r->a_values()[0] : "";  // a lost datagram: ask again
  };
  ASSERT_TRUE(wait_until([&] { return answer() == "127.0.0.1"; }, 5s));
  // Counted, not timed. Probes run one after another (the next is scheduled when one ends),
  // so once the endpoint has answered kThreshold + 1 probes in the new state, hop has
  // recorded kThreshold of them: an answer asked for after that must be the new one. And
  // hop cannot switch before the endpoint has answered kThreshold of them.
  for (bool up : {false, true}) {
    health.set_up(up);
    const std::string want = up ? "127.0.0.1" : "127.0.0.2";
    bool switched = wait_until([&] {
      int answered_before = health.answered();
      if (answer() == want) {
        EXPECT_GE(health.answered(), kThreshold) << "switched before " << kThreshold << " probes saw the change";
        return true;
      }
      EXPECT_LE(answered_before, kThreshold) << "still the old answer after " << answered_before << " probes saw the change";
      return answered_before > kThreshold;  // failed already: stop asking
    });
    ASSERT_TRUE(switched && answer() == want) << (up ? "no failback" : "no failover");
  }
}

namespace {
// A reload's DNS config: zone new.test. with x → 10.7.7.7, on the same 127.0.0.1:0.
std::shared_ptr<const DnsConfig> new_test_zone() {
  config::ConfigErrors errs("t");
  auto cfg = parse_dns_config(YAML::Load("{listen: [127.0.0.1:0], zones: [{origin: new.test., records: [{name: x, "
                                         "type: A, value: 10.7.7.7}]}]}"),
                              ".", errs);
  EXPECT_TRUE(cfg) << errs.to_string();
  return cfg;
}
}  // namespace

TEST(DnsServer, UpdateSwapsZonesAndListeners) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  auto cfg = new_test_zone();
  ASSERT_TRUE(cfg);
  // Same configured address (127.0.0.1:0): listeners stay, zones change.
  ASSERT_TRUE(s.on_loop([&] { s.server().update(cfg, std::make_shared<const DnsHealth>()); }));
  UdpClient u(s.udp);
  EXPECT_EQ(parse_response(*u.ask(make_query("x.new.test.", type::kA)))->a_values(),
            std::vector<std::string>{"10.7.7.7"});
  EXPECT_EQ(parse_response(*u.ask(make_query("www.hop.test.", type::kA)))->rcode, rcode::kRefused);
}

// dns: taken out by one reload and given back by a later one: TCP must serve again.
TEST(DnsServer, TcpServesAgainAfterStopThenUpdate) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  ASSERT_TRUE(s.on_loop([&] { s.server().stop(); }));
  auto cfg = new_test_zone();
  ASSERT_TRUE(cfg);
  core::Address tcp;
  ASSERT_TRUE(s.on_loop([&] {
    s.server().update(cfg, std::make_shared<const DnsHealth>());
    tcp = s.server().bound_tcp().at(0);
  }));
  TcpClient t(tcp);
  ASSERT_TRUE(t.connected);
  t.send(make_query("x.new.test.", type::kA));
  auto m = t.recv();
  ASSERT_TRUE(m) << "TCP connection refused or unanswered after dns: came back";
  EXPECT_EQ(parse_response(*m)->a_values(), std::vector<std::string>{"10.7.7.7"});
}

TEST(DnsServer, MetricsCountByTypeRcodeAndDecision) {
  ServerThread s(example_dns_section());
  ASSERT_TRUE(s.ok) << s.error;
  UdpClient u(s.udp);
  u.ask(make_query("www.hop.test.", type::kA));
  u.ask(make_query("nope.hop.test.", type::kMX));
  std::string text;
  ASSERT_TRUE(s.on_loop([&] { render_dns_metrics({&s.metrics()}, text); }));
  EXPECT_NE(text.find("hop_dns_queries_total{qtype=\"A\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("hop_dns_queries_total{qtype=\"MX\"} 1"), std::string::npos);
  EXPECT_NE(text.find("hop_dns_responses_total{rcode=\"NXDOMAIN\"} 1"), std::string::npos);
  EXPECT_NE(text.find("hop_dns_policy_decisions_total{decision=\"weighted\"} 1"), std::string::npos);
}

TEST(DnsServer, ClientDribblingBytesIsClosedAtIdleTimeout) {
  YAML::Node n = YAML::Load(example_dns_section());
  n["tcp"]["idle_timeout"] = "300ms";
  std::stringstream ss;
  ss << n;
  ServerThread s(ss.str());
  ASSERT_TRUE(s.ok) << s.error;
  TcpClient t(s.tcp);
  auto q = make_query("ns1.hop.test.", type::kA);
  std::vector<uint8_t> framed{0, uint8_t(q.size())};
  framed.insert(framed.end(), q.begin(), q.end());
  auto start = std::chrono::steady_clock::now();
  // One byte every 100 ms never completes a query inside the idle timeout.
  bool closed = false;
  for (size_t i = 0; i < framed.size() - 1 && !closed; ++i) {
    t.send_raw({framed[i]});
    closed = t.closed_by_peer(100);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(DnsServer, QueryLogWritesOneLinePerQuery) {
  YAML::Node n = YAML::Load(example_dns_section());
  n["query_log"] = true;
  std::stringstream ss;
  ss << n;
  ServerThread s(ss.str());
  ASSERT_TRUE(s.ok) << s.error;
  ::testing::internal::CaptureStdout();
  UdpClient u(s.udp);
  ASSERT_TRUE(u.ask(make_query("www.hop.test.", type::kA)));
  std::this_thread::sleep_for(50ms);
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("name=www.hop.test. type=A rcode=0 policy=weighted"), std::string::npos) << out;
}

namespace {

// One server for the whole table: each case is one query over UDP and one over TCP.
class ServerConformanceTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  static void SetUpTestSuite() { server_ = new ServerThread(example_dns_section()); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerThread* server_;
};
ServerThread* ServerConformanceTest::server_ = nullptr;

}  // namespace

TEST_P(ServerConformanceTest, AnswersOverUdpAndTcpSocketsAsDocumented) {
  ASSERT_TRUE(server_->ok) << server_->error;
  const ConformanceCase& c = GetParam();
  UdpClient u(server_->udp);
  auto ur = u.ask(c.query);
  EXPECT_EQ(conformance_mismatch(c, ur ? parse_response(*ur) : std::nullopt, false), "") << c.what << " (UDP)";
  TcpClient t(server_->tcp);
  ASSERT_TRUE(t.connected);
  t.send(c.query);
  auto tr = t.recv();
  EXPECT_EQ(conformance_mismatch(c, tr ? parse_response(*tr) : std::nullopt, true), "") << c.what << " (TCP)";
  // The connection stays usable after any of these answers.
  t.send(make_query("ns1.hop.test.", type::kA));
  auto next = t.recv();
  ASSERT_TRUE(next);
  EXPECT_EQ(parse_response(*next)->a_values(), std::vector<std::string>{"127.0.0.1"});
}

INSTANTIATE_TEST_SUITE_P(UnusualQueries, ServerConformanceTest, ::testing::ValuesIn(conformance_cases()),
                         conformance_case_name);
