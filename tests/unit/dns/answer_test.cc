// The answer path, called directly (no sockets), against examples/dns.yaml.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "conformance_cases.h"
#include "dns/answer.h"
#include "dns_test_util.h"

using namespace hop;
using namespace hop::dns;
using namespace hop::dns::testing;

namespace {

std::filesystem::path repo_root() { return std::filesystem::path(__FILE__).parent_path() / "../../.."; }

class AnswerTest : public ::testing::Test {
 protected:
  AnswerTest() : checker_(loop_) {}

  std::shared_ptr<const DnsConfig> load(const YAML::Node& section, const std::string& dir = ".") {
    config::ConfigErrors errs("test.yaml");
    ClusterLookup clusters{[](std::string_view name) { return name == "blue"; }};
    auto cfg = parse_dns_config(section, dir, errs, clusters);
    EXPECT_TRUE(cfg) << errs.to_string();
    last_errors_ = errs.to_string();
    return cfg;
  }
  void SetUp() override {
    YAML::Node root = YAML::LoadFile((repo_root() / "examples/dns.yaml").string());
    cfg_ = load(root["dns"]);
    ASSERT_TRUE(cfg_);
  }

  Response ask(const std::vector<uint8_t>& q, bool tcp = false, const char* source = "203.0.113.9") {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    std::vector<uint8_t> out(kMaxTcpMessage);
    AnswerInfo info;
    if (bound_for_ != cfg_) {
      health_ = bind_health(*cfg_, checker_, [this](std::string_view name) -> std::function<bool()> {
        if (name == "blue") return [this] { return blue_up_; };
        return {};
      });
      bound_for_ = cfg_;
    }
    size_t n = answer_query(*cfg_, *health_, q.data(), q.size(), reinterpret_cast<sockaddr*>(&src), tcp, rng_, query_,
                            out.data(), out.size(), info);
    out.resize(n);
    last_info_ = info;
    last_wire_ = out;
    auto r = parse_response(out);
    EXPECT_TRUE(r || n == 0);
    return r.value_or(Response{});
  }

  core::EventLoop loop_;
  health::HealthChecker checker_;
  std::shared_ptr<const DnsConfig> cfg_;
  std::shared_ptr<const DnsConfig> bound_for_;  // the config health_ was bound for
  std::shared_ptr<const DnsHealth> health_;
  Rng rng_{42};
  Query query_;
  AnswerInfo last_info_;
  std::vector<uint8_t> last_wire_;
  std::string last_errors_;
  bool blue_up_ = true;
};

}  // namespace

TEST_F(AnswerTest, AnswersAuthoritativelyWithCompressedOwnerAndQuestionCase) {
  auto r = ask(make_query("NS1.Hop.TEST.", type::kA));
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_TRUE(r.aa());
  ASSERT_EQ(r.answer.size(), 1u);
  EXPECT_EQ(r.answer[0].owner, "NS1.Hop.TEST.");
  EXPECT_EQ(r.a_values(), std::vector<std::string>{"127.0.0.1"});
  // The owner is a 2-byte pointer to the question name.
  size_t owner_at = 12 + r.qname.size() + 1 + 4;
  EXPECT_EQ(last_wire_[owner_at], 0xC0);
  EXPECT_EQ(last_wire_[owner_at + 1], 12);
  EXPECT_TRUE(r.has_opt);
}

TEST_F(AnswerTest, NxdomainCarriesSoaWithNegativeTtl) {
  auto r = ask(make_query("nope.hop.test.", type::kA));
  EXPECT_EQ(r.rcode, rcode::kNXDomain);
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.answer.empty());
  ASSERT_EQ(r.authority.size(), 1u);
  EXPECT_EQ(r.authority[0].type, type::kSOA);
  EXPECT_EQ(r.authority[0].ttl, 60u);  // min(SOA TTL 300, MINIMUM 60)
}

TEST_F(AnswerTest, NodataIsNoErrorWithSoa) {
  auto r = ask(make_query("www.hop.test.", type::kAAAA));
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_TRUE(r.answer.empty());
  ASSERT_EQ(r.authority.size(), 1u);
  EXPECT_EQ(r.authority[0].type, type::kSOA);
}

TEST_F(AnswerTest, EmptyNonTerminalIsNodata) {
  auto r = ask(make_query("_tcp.hop.test.", type::kA));  // only _http._tcp exists
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_EQ(r.authority.size(), 1u);
}

TEST_F(AnswerTest, FollowsCnameInsideTheZone) {
  auto r = ask(make_query("feed.hop.test.", type::kA));
  EXPECT_EQ(r.rcode, rcode::kNoError);
  ASSERT_EQ(r.answer.size(), 2u);
  EXPECT_EQ(r.answer[0].type, type::kCNAME);
  EXPECT_EQ(r.answer[1].type, type::kA);
  EXPECT_EQ(r.answer[1].owner, "www.hop.test.");
  EXPECT_EQ(last_info_.decision, Decision::kWeighted);
  auto c = ask(make_query("feed.hop.test.", type::kCNAME));
  EXPECT_EQ(c.answer.size(), 1u);
}

TEST_F(AnswerTest, RefusesNamesOutsideItsZones) {
  auto r = ask(make_query("example.com.", type::kA));
  EXPECT_EQ(r.rcode, rcode::kRefused);
  EXPECT_FALSE(r.aa());
}

TEST_F(AnswerTest, AnyIsAnsweredWithOneRrset) {
  auto r = ask(make_query("hop.test.", type::kANY));
  EXPECT_EQ(r.rcode, rcode::kNoError);
  ASSERT_FALSE(r.answer.empty());
  for (const auto& rec : r.answer) EXPECT_EQ(rec.type, r.answer[0].type);
}

TEST_F(AnswerTest, BadVersIsExtendedRcodeWithOpt) {
  auto r = ask(make_query("www.hop.test.", type::kA, edns_version(1)));
  EXPECT_TRUE(r.has_opt);
  EXPECT_EQ(r.rcode, rcode::kBadVers);
  EXPECT_TRUE(r.answer.empty());
}

TEST_F(AnswerTest, FormErrEchoesTheIdAndCarriesTheQuerysOpt) {
  auto q = RawMessage().question("www.hop.test.", type::kA).soa(1, "hop.test.").opt().bytes();  // an answer in a query
  auto r = ask(q);
  EXPECT_EQ(r.id, 0x1234);
  EXPECT_EQ(r.rcode, rcode::kFormErr);
  EXPECT_TRUE(r.has_opt);  // RFC 6891 §6.1.1
  EXPECT_EQ(r.opt_rdata, "");  // nothing of the query's options echoed
}

TEST_F(AnswerTest, BigAnswerTruncatesOverUdpAndFitsOverTcp) {
  auto udp = ask(make_query("big.hop.test.", type::kTXT));
  EXPECT_TRUE(udp.tc());
  EXPECT_TRUE(udp.answer.empty());
  EXPECT_LE(last_wire_.size(), 1232u);
  EXPECT_TRUE(last_info_.truncated);
  auto plain = ask(make_query("big.hop.test.", type::kTXT, no_edns()));
  EXPECT_TRUE(plain.tc());
  EXPECT_LE(last_wire_.size(), 512u);
  auto tcp = ask(make_query("big.hop.test.", type::kTXT), true);
  EXPECT_FALSE(tcp.tc());
  EXPECT_EQ(tcp.answer.size(), 6u);
  EXPECT_GT(last_wire_.size(), 1232u);
}

TEST_F(AnswerTest, ClientPayloadAboveOursIsCappedAtOurs) {
  auto r = ask(make_query("big.hop.test.", type::kTXT, with_payload(4096)));
  EXPECT_TRUE(r.tc());
  ASSERT_TRUE(r.has_opt);
}

TEST_F(AnswerTest, WeightedSplitIsWithinTwoPercentOver10000Queries) {
  std::map<std::string, int> seen;
  for (int i = 0; i < 10000; ++i) {
    auto r = ask(make_query("www.hop.test.", type::kA));
    ASSERT_EQ(r.answer.size(), 1u);
    EXPECT_EQ(r.answer[0].ttl, 60u);
    seen[r.a_values()[0]]++;
  }
  EXPECT_NEAR(seen["10.0.0.1"], 9000, 200);
  EXPECT_NEAR(seen["10.0.0.2"], 1000, 200);
}

TEST_F(AnswerTest, GeoUsesClientSubnetAndReturnsScope) {
  auto eu = ask(make_query("geo.hop.test.", type::kA, with_ecs("192.0.2.0/24")));
  EXPECT_EQ(eu.a_values(), std::vector<std::string>{"10.1.0.1"});
  ASSERT_TRUE(eu.has_opt);
  // OPT rdata: code 8, len, family 1, source 24, scope 24, 3 address bytes.
  ASSERT_EQ(eu.opt_rdata.size(), 11u);
  EXPECT_EQ(uint8_t(eu.opt_rdata[6]), 24);
  EXPECT_EQ(uint8_t(eu.opt_rdata[7]), 24);
  EXPECT_EQ(last_info_.decision, Decision::kGeoMatch);

  auto us = ask(make_query("geo.hop.test.", type::kA, with_ecs("198.51.100.0/24")));
  EXPECT_EQ(us.a_values(), std::vector<std::string>{"10.2.0.1"});
  auto other = ask(make_query("geo.hop.test.", type::kA, with_ecs("203.0.113.0/24")));
  EXPECT_EQ(other.a_values(), std::vector<std::string>{"10.9.0.1"});
  EXPECT_EQ(last_info_.decision, Decision::kGeoDefault);
}

TEST_F(AnswerTest, GeoFallsBackToSourceAddress) {
  auto r = ask(make_query("geo.hop.test.", type::kA), false, "198.51.100.77");
  EXPECT_EQ(r.a_values(), std::vector<std::string>{"10.2.0.1"});
}

TEST_F(AnswerTest, NonGeoAnswerEchoesSubnetWithScopeZero) {
  auto r = ask(make_query("ns1.hop.test.", type::kA, with_ecs("192.0.2.0/24")));
  ASSERT_EQ(r.opt_rdata.size(), 11u);
  EXPECT_EQ(uint8_t(r.opt_rdata[7]), 0);
}

TEST_F(AnswerTest, ServesMxTxtSrvCaaAndSoa) {
  for (uint16_t t : {type::kMX, type::kTXT, type::kSOA, type::kNS, type::kCAA}) {
    auto r = ask(make_query("hop.test.", t));
    ASSERT_EQ(r.answer.size(), 1u) << type_to_text(t);
    EXPECT_EQ(r.answer[0].type, t);
  }
  auto srv = ask(make_query("_http._tcp.hop.test.", type::kSRV));
  ASSERT_EQ(srv.answer.size(), 1u);
  size_t p = srv.answer[0].rdata_offset + 6;
  EXPECT_EQ(decode_name(last_wire_, p), "www.hop.test.");
}

TEST_F(AnswerTest, FailoverFollowsClusterHealthAndWeightZeroIsOutOfRotation) {
  auto cfg = load(YAML::Load(R"(
listen: [127.0.0.1:0]
zones:
  - origin: t.
    records:
      - name: f
        type: A
        policy: failover
        answers:
          - {value: 10.0.0.1, role: primary, cluster: blue}
          - {value: 10.0.0.2, role: secondary}
      - name: w
        type: A
        policy: weighted
        answers:
          - {value: 10.0.0.1, weight: 0}
          - {value: 10.0.0.2, weight: 5}
      - name: z
        type: A
        policy: weighted
        answers:
          - {value: 10.0.0.1, weight: 0}
          - {value: 10.0.0.2, weight: 0}
      - name: m
        type: A
        policy: multivalue
        answers:
          - {values: [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5]}
          - {values: [10.0.0.6, 10.0.0.7, 10.0.0.8, 10.0.0.9, 10.0.0.10]}
          - {value: 10.0.0.11, cluster: blue}
)"));
  ASSERT_TRUE(cfg);
  cfg_ = cfg;
  EXPECT_EQ(ask(make_query("f.t.", type::kA)).a_values(), std::vector<std::string>{"10.0.0.1"});
  blue_up_ = false;
  EXPECT_EQ(ask(make_query("f.t.", type::kA)).a_values(), std::vector<std::string>{"10.0.0.2"});
  EXPECT_EQ(last_info_.decision, Decision::kFailoverSecondary);
  blue_up_ = true;
  EXPECT_EQ(ask(make_query("f.t.", type::kA)).a_values(), std::vector<std::string>{"10.0.0.1"});

  for (int i = 0; i < 200; ++i) EXPECT_EQ(ask(make_query("w.t.", type::kA)).a_values()[0], "10.0.0.2");
  std::set<std::string> both;
  for (int i = 0; i < 200; ++i) both.insert(ask(make_query("z.t.", type::kA)).a_values()[0]);
  EXPECT_EQ(both.size(), 2u);

  std::set<std::string> firsts;
  blue_up_ = false;
  for (int i = 0; i < 200; ++i) {
    auto v = ask(make_query("m.t.", type::kA)).a_values();
    EXPECT_EQ(v.size(), 8u);
    EXPECT_EQ(std::set<std::string>(v.begin(), v.end()).size(), 8u);
    EXPECT_EQ(std::count(v.begin(), v.end(), "10.0.0.11"), 0);
    firsts.insert(v[0]);
  }
  EXPECT_GE(firsts.size(), 8u);
}

TEST_F(AnswerTest, LoadsRfc1035ZoneFile) {
  auto dir = std::filesystem::temp_directory_path() / ("hopdns" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "z.db") << R"($ORIGIN example.
$TTL 1h
@   IN SOA ns1 hostmaster ( 7 3600 600
                              86400 30 ) ; comment
    IN NS ns1
ns1 300 IN A 192.0.2.53
www     A  192.0.2.80
        AAAA 2001:db8::80
alias   CNAME www
txt     TXT "hello world" "second ; not a comment"
a.b.c   A 192.0.2.1
)";
  auto cfg = load(YAML::Load("{listen: [127.0.0.1:0], zones: [{origin: example., file: z.db}]}"), dir.string());
  ASSERT_TRUE(cfg) << last_errors_;
  cfg_ = cfg;
  auto r = ask(make_query("alias.example.", type::kAAAA));
  ASSERT_EQ(r.answer.size(), 2u);
  EXPECT_EQ(r.answer[1].type, type::kAAAA);
  EXPECT_EQ(r.answer[1].ttl, 3600u);
  EXPECT_EQ(ask(make_query("ns1.example.", type::kA)).answer.at(0).ttl, 300u);
  auto txt = ask(make_query("txt.example.", type::kTXT));
  ASSERT_EQ(txt.answer.size(), 1u);
  EXPECT_EQ(txt.answer[0].rdata, std::string("\x0bhello world\x16second ; not a comment", 35));
  auto nx = ask(make_query("zz.example.", type::kA));
  EXPECT_EQ(nx.authority.at(0).ttl, 30u);
  EXPECT_EQ(ask(make_query("b.c.example.", type::kA)).rcode, rcode::kNoError);  // empty non-terminal
  std::filesystem::remove_all(dir);
}

TEST_F(AnswerTest, ReportsConfigErrorsWithPositions) {
  config::ConfigErrors errs("bad.yaml");
  auto cfg = parse_dns_config(YAML::Load(R"(
listen: [127.0.0.1:0]
zones:
  - origin: t.
    records:
      - {name: a, type: A, value: not-an-ip}
      - {name: c, type: CNAME, value: x}
      - {name: c, type: A, value: 10.0.0.1}
      - {name: w, type: A, policy: weighted, answers: [{value: 10.0.0.1}]}
      - {name: g, type: A, policy: geo, answers: [{value: 10.0.0.1, location: mars}]}
      - {name: k, type: A, policy: failover, answers: [{value: 10.0.0.1, role: primary, cluster: nope}]}
      - {name: out.of.zone., type: A, value: 10.0.0.1}
)"),
                              ".", errs);
  EXPECT_FALSE(cfg);
  std::string all = errs.to_string();
  for (const char* want : {"IPv4", "CNAME", "weight", "mars", "nope", "outside zone"})
    EXPECT_NE(all.find(want), std::string::npos) << want << " missing from:\n" << all;
  EXPECT_NE(all.find("bad.yaml:6:"), std::string::npos) << all;
}

TEST_F(AnswerTest, AnEmptyOriginIsAnError) {
  config::ConfigErrors errs("bad.yaml");
  auto cfg = parse_dns_config(YAML::Load("{listen: [127.0.0.1:0], zones: [{origin: '', records: []}]}"), ".", errs);
  EXPECT_FALSE(cfg);
  EXPECT_NE(errs.to_string().find("origin is empty"), std::string::npos) << errs.to_string();
}

TEST_F(AnswerTest, GeoWithoutDefaultIsNodataForUnmatchedClients) {
  YAML::Node root = YAML::LoadFile((repo_root() / "examples/dns.yaml").string());
  YAML::Node section = root["dns"];
  YAML::Node rec = YAML::Load("{name: eu-only, type: A, policy: geo, answers: [{value: 10.1.0.1, location: eu}]}");
  section["zones"][0]["records"].push_back(rec);
  cfg_ = load(section);
  ASSERT_TRUE(cfg_);
  auto eu = ask(make_query("eu-only.hop.test.", type::kA, with_ecs("192.0.2.0/24")));
  EXPECT_EQ(eu.a_values(), std::vector<std::string>{"10.1.0.1"});
  auto other = ask(make_query("eu-only.hop.test.", type::kA, with_ecs("203.0.113.0/24")));
  EXPECT_EQ(other.rcode, rcode::kNoError);
  EXPECT_TRUE(other.answer.empty());
  ASSERT_EQ(other.authority.size(), 1u);
  EXPECT_EQ(other.authority[0].type, type::kSOA);
}

namespace {
class AnswerConformanceTest : public AnswerTest, public ::testing::WithParamInterface<ConformanceCase> {};
}  // namespace

TEST_P(AnswerConformanceTest, AnswersOverUdpAndTcpAsDocumented) {
  const ConformanceCase& c = GetParam();
  for (bool tcp : {false, true}) {
    ask(c.query, tcp);
    EXPECT_EQ(conformance_mismatch(c, parse_response(last_wire_), tcp), "") << c.what << (tcp ? " (TCP)" : " (UDP)");
  }
}

INSTANTIATE_TEST_SUITE_P(UnusualQueries, AnswerConformanceTest, ::testing::ValuesIn(conformance_cases()),
                         conformance_case_name);

TEST_F(AnswerTest, ClassAnyAnswersCarryClassInRecords) {
  ask(RawMessage().question("ns1.hop.test.", type::kA, kClassANY).bytes());
  auto r = parse_response(last_wire_);
  ASSERT_TRUE(r && r->answer.size() == 1);
  size_t class_at = r->answer[0].rdata_offset - 8;
  EXPECT_EQ(get16(&last_wire_[class_at]), kClassIN);
  EXPECT_EQ(get16(&last_wire_[12 + 14 + 2]), kClassANY);  // the question keeps the class asked
}
