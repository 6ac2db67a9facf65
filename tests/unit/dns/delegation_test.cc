// Wildcards (RFC 4592) and delegations (RFC 1034 §4.2.1, §4.3.2; glue per RFC 9471) on the
// answer path, called directly, and the configuration errors around them.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <map>

#include "dns/answer.h"
#include "dns_test_util.h"

using namespace hop;
using namespace hop::dns;
using namespace hop::dns::testing;

namespace {

constexpr const char* kZone = R"(
listen: [127.0.0.1:0]
zones:
  - origin: hop.test.
    records:
      - {name: "@", type: NS, value: ns1}
      - {name: ns1, type: A, value: 127.0.0.1}
      - {name: "*", type: A, value: 10.0.0.9}
      - {name: "*.w", type: TXT, value: wild}
      - {name: real.w, type: A, value: 10.0.0.1}
      - {name: x.y.w, type: A, value: 10.0.0.2}
      - {name: "*.c", type: CNAME, value: www}
      - {name: www, type: A, value: 10.0.0.3}
      - {name: to-wild, type: CNAME, value: Anything.W.hop.test.}
      - {name: "x.*.e", type: A, value: 10.0.0.4}
      - {name: sub, type: NS, values: [ns1.sub, ns.elsewhere.test., ns1]}
      - {name: ns1.sub, type: A, value: 192.0.2.53}
      - {name: ns1.sub, type: AAAA, value: "2001:db8::53"}
      - {name: to-sub, type: CNAME, value: host.sub}
)";

class DelegationTest : public ::testing::Test {
 protected:
  std::shared_ptr<const DnsConfig> load(const std::string& yaml, std::string* errors = nullptr) {
    config::ConfigErrors errs("zone.yaml");
    auto cfg = parse_dns_config(YAML::Load(yaml), ".", errs);
    if (errors) *errors = errs.to_string();
    return cfg;
  }
  void SetUp() override {
    std::string errors;
    cfg_ = load(kZone, &errors);
    ASSERT_TRUE(cfg_) << errors;
  }

  Response ask(const std::string& name, uint16_t qtype, bool tcp = false, QueryOptions o = {}) {
    auto q = make_query(name, qtype, o);
    std::vector<uint8_t> out(kMaxTcpMessage);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, "203.0.113.9", &src.sin_addr);
    AnswerInfo& info = info_;
    size_t n = answer_query(*cfg_, DnsHealth{}, q.data(), q.size(), reinterpret_cast<sockaddr*>(&src), tcp, rng_,
                            query_, out.data(), out.size(), info);
    out.resize(n);
    wire_size_ = n;
    auto r = parse_response(out);
    EXPECT_TRUE(r) << "unparsable answer for " << name;
    return r.value_or(Response{});
  }

  static std::vector<std::string> owners(const std::vector<Record>& rs) {
    std::vector<std::string> out;
    for (const auto& r : rs) out.push_back(r.owner + "/" + std::to_string(r.type));
    return out;
  }

  std::shared_ptr<const DnsConfig> cfg_;
  Rng rng_{7};
  Query query_;
  AnswerInfo info_;
  size_t wire_size_ = 0;
};

}  // namespace

TEST_F(DelegationTest, WildcardAnswersUnderTheQueriedNameForOneOrMoreLabels) {
  for (const char* name : {"anything.hop.test.", "Two.Labels.hop.test."}) {
    auto r = ask(name, type::kA);
    EXPECT_EQ(r.rcode, rcode::kNoError) << name;
    EXPECT_TRUE(r.aa()) << name;
    ASSERT_EQ(r.answer.size(), 1u) << name;
    EXPECT_EQ(r.answer[0].owner, name);  // never "*.hop.test."
    EXPECT_EQ(r.a_values(), std::vector<std::string>{"10.0.0.9"});
    EXPECT_TRUE(info_.wildcard);
    EXPECT_FALSE(info_.referral);
  }
}

TEST_F(DelegationTest, WildcardWithoutTheTypeIsNodata) {
  auto r = ask("foo.w.hop.test.", type::kA);  // *.w has TXT only; *.hop.test is not its source
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_TRUE(r.answer.empty());
  ASSERT_EQ(r.authority.size(), 1u);
  EXPECT_EQ(r.authority[0].type, type::kSOA);
  auto t = ask("foo.w.hop.test.", type::kTXT);
  ASSERT_EQ(t.answer.size(), 1u);
  EXPECT_EQ(t.answer[0].owner, "foo.w.hop.test.");
}

TEST_F(DelegationTest, NamesThatExistAreNotCoveredByTheWildcard) {
  auto r = ask("real.w.hop.test.", type::kTXT);  // real.w exists (A): NODATA, not "wild"
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_TRUE(r.answer.empty());
  auto ent = ask("y.w.hop.test.", type::kTXT);  // an empty non-terminal exists too
  EXPECT_EQ(ent.rcode, rcode::kNoError);
  EXPECT_TRUE(ent.answer.empty());
  // Below it the closest encloser is y.w, which has no wildcard: NXDOMAIN (RFC 4592 §2.2.1).
  auto below = ask("a.y.w.hop.test.", type::kTXT);
  EXPECT_EQ(below.rcode, rcode::kNXDomain);
  auto below_a = ask("a.y.w.hop.test.", type::kA);
  EXPECT_EQ(below_a.rcode, rcode::kNXDomain);
}

TEST_F(DelegationTest, AWildcardThatIsOnlyAnEmptyNonTerminalStillExists) {
  auto r = ask("other.e.hop.test.", type::kA);  // "*.e" exists because "x.*.e" does
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_TRUE(r.answer.empty());
}

TEST_F(DelegationTest, WildcardCnameIsSynthesizedAndFollowed) {
  auto r = ask("q.c.hop.test.", type::kA);
  EXPECT_EQ(r.rcode, rcode::kNoError);
  ASSERT_EQ(r.answer.size(), 2u);
  EXPECT_EQ(r.answer[0].owner, "q.c.hop.test.");
  EXPECT_EQ(r.answer[0].type, type::kCNAME);
  EXPECT_EQ(r.answer[1].owner, "www.hop.test.");
  EXPECT_EQ(r.answer[1].type, type::kA);
}

TEST_F(DelegationTest, CnameIntoAWildcardIsFollowedWithTheTargetsCase) {
  auto r = ask("to-wild.hop.test.", type::kTXT);
  EXPECT_EQ(r.rcode, rcode::kNoError);
  ASSERT_EQ(r.answer.size(), 2u);
  EXPECT_EQ(r.answer[1].owner, "Anything.W.hop.test.");
  EXPECT_EQ(r.answer[1].type, type::kTXT);
}

TEST_F(DelegationTest, NamesAtAndBelowACutGetAReferralWithGlue) {
  for (auto [name, qtype] : {std::pair{"host.sub.hop.test.", type::kA}, {"sub.hop.test.", type::kNS},
                             {"ns1.sub.hop.test.", type::kA}, {"deep.er.sub.hop.test.", type::kANY},
                             {"x.sub.sub.hop.test.", type::kA}}) {
    auto r = ask(name, qtype);
    EXPECT_EQ(r.rcode, rcode::kNoError) << name;
    EXPECT_TRUE(info_.referral) << name;
    EXPECT_FALSE(info_.wildcard) << name;
    EXPECT_FALSE(r.aa()) << name << ": a referral is not authoritative";
    EXPECT_TRUE(r.answer.empty()) << name;
    EXPECT_EQ(owners(r.authority), (std::vector<std::string>{"sub.hop.test./2", "sub.hop.test./2", "sub.hop.test./2"}))
        << name;
    // Required glue (below the cut) first, then the in-zone address of ns1; nothing for the
    // server outside the zone. Then the OPT.
    EXPECT_EQ(owners(r.additional), (std::vector<std::string>{"ns1.sub.hop.test./1", "ns1.sub.hop.test./28",
                                                              "ns1.hop.test./1", "./41"}))
        << name;
  }
}

TEST_F(DelegationTest, TheWildcardAboveACutDoesNotReachBelowIt) {
  auto r = ask("zzz.sub.hop.test.", type::kA);
  EXPECT_FALSE(r.aa());
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(r.authority.size(), 3u);
}

TEST_F(DelegationTest, DsAtTheCutIsAnsweredByTheParent) {
  auto r = ask("sub.hop.test.", type::kDS);
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.answer.empty());
  ASSERT_EQ(r.authority.size(), 1u);
  EXPECT_EQ(r.authority[0].type, type::kSOA);
  auto below = ask("x.sub.hop.test.", type::kDS);  // below the cut: the child's business
  EXPECT_FALSE(below.aa());
  EXPECT_EQ(below.authority.size(), 3u);
}

TEST_F(DelegationTest, ACnameIntoADelegationEndsTheChain) {
  auto r = ask("to-sub.hop.test.", type::kA);
  EXPECT_EQ(r.rcode, rcode::kNoError);
  EXPECT_TRUE(r.aa());
  ASSERT_EQ(r.answer.size(), 1u);
  EXPECT_EQ(r.answer[0].type, type::kCNAME);
  EXPECT_TRUE(r.authority.empty());
}

TEST_F(DelegationTest, ReferralWithoutRoomForRequiredGlueIsTruncated) {
  std::string yaml = "listen: [127.0.0.1:0]\nzones:\n  - origin: hop.test.\n    records:\n";
  for (int i = 0; i < 12; ++i) {
    std::string ns = "name-server-" + std::to_string(i) + ".big";
    yaml += "      - {name: big, type: NS, value: " + ns + "}\n";
    yaml += "      - {name: " + ns + ", type: A, value: 192.0.2." + std::to_string(i + 1) + "}\n";
    yaml += "      - {name: " + ns + ", type: AAAA, value: \"2001:db8::" + std::to_string(i + 1) + "\"}\n";
  }
  std::string errors;
  cfg_ = load(yaml, &errors);
  ASSERT_TRUE(cfg_) << errors;
  auto udp = ask("www.big.hop.test.", type::kA, false, no_edns());
  EXPECT_TRUE(udp.tc());
  EXPECT_LE(wire_size_, 512u);
  auto tcp = ask("www.big.hop.test.", type::kA, true);
  EXPECT_FALSE(tcp.tc());
  EXPECT_EQ(tcp.authority.size(), 12u);
  EXPECT_EQ(tcp.additional.size(), 24u + 1);  // and the OPT
}

TEST_F(DelegationTest, OptionalGlueIsLeftOutRatherThanTruncating) {
  std::string yaml = "listen: [127.0.0.1:0]\nzones:\n  - origin: hop.test.\n    records:\n";
  for (int i = 0; i < 12; ++i) {
    std::string ns = "name-server-" + std::to_string(i) + ".servers";  // in the zone, not below the cut
    yaml += "      - {name: big, type: NS, value: " + ns + "}\n";
    yaml += "      - {name: " + ns + ", type: AAAA, value: \"2001:db8::" + std::to_string(i + 1) + "\"}\n";
  }
  cfg_ = load(yaml);
  ASSERT_TRUE(cfg_);
  auto udp = ask("www.big.hop.test.", type::kA, false, no_edns());
  EXPECT_FALSE(udp.tc());
  EXPECT_EQ(udp.authority.size(), 12u);
  EXPECT_LT(udp.additional.size(), 12u);
  EXPECT_LE(wire_size_, 512u);
}

TEST_F(DelegationTest, WhatADelegationWouldHideIsAConfigError) {
  std::string errors;
  auto cfg = load(R"(
listen: [127.0.0.1:0]
zones:
  - origin: t.
    records:
      - {name: sub, type: NS, value: ns.sub}
      - {name: ns.sub, type: A, value: 192.0.2.1}
      - {name: mail.sub, type: MX, value: "10 mx.t."}
      - {name: sub, type: TXT, value: hidden}
      - {name: "*.w", type: NS, value: ns.t.}
      - {name: p, type: NS, policy: weighted, answers: [{value: a.t., weight: 1}, {value: b.t., weight: 1}]}
)",
                  &errors);
  EXPECT_FALSE(cfg);
  EXPECT_NE(errors.find("zone.yaml:8:"), std::string::npos) << errors;  // the MX below the cut
  EXPECT_NE(errors.find("MX at mail.sub.t. is hidden by the delegation at sub.t."), std::string::npos) << errors;
  EXPECT_NE(errors.find("zone.yaml:9:"), std::string::npos) << errors;  // the TXT at the cut
  EXPECT_NE(errors.find("wildcard"), std::string::npos) << errors;
  EXPECT_NE(errors.find("must be a simple record"), std::string::npos) << errors;
  EXPECT_EQ(errors.find("ns.sub"), std::string::npos) << "glue is allowed: " << errors;
}

TEST_F(DelegationTest, AddressesOfInZoneTargetsOfNsMxAndSrvGoToAdditional) {
  std::string errors;
  cfg_ = load(R"(
listen: [127.0.0.1:0]
zones:
  - origin: hop.test.
    records:
      - {name: "@", type: NS, values: [ns1, ns.elsewhere.test.]}
      - {name: ns1, type: A, value: 127.0.0.1}
      - {name: ns1, type: AAAA, value: "::1"}
      - {name: "@", type: MX, values: ["10 Mail", "20 mx.elsewhere.test.", "30 gone"]}
      - {name: mail, type: A, value: 10.1.1.1}
      - {name: _s._tcp, type: SRV, value: "1 2 3 srv"}
      - {name: srv, type: A, policy: weighted, answers: [{value: 10.2.2.2, weight: 1}, {value: 10.3.3.3, weight: 0}]}
      - {name: p, type: PTR, value: mail}
)",
              &errors);
  ASSERT_TRUE(cfg_) << errors;
  auto ns = ask("hop.test.", type::kNS);
  EXPECT_EQ(owners(ns.additional), (std::vector<std::string>{"ns1.hop.test./1", "ns1.hop.test./28", "./41"}));
  auto mx = ask("hop.test.", type::kMX);
  EXPECT_EQ(mx.answer.size(), 3u);
  // Looked up case-blind; the owner is compressed to the MX target, so it reads as written there.
  EXPECT_EQ(owners(mx.additional), (std::vector<std::string>{"Mail.hop.test./1", "./41"}));
  auto srv = ask("_s._tcp.hop.test.", type::kSRV);
  ASSERT_EQ(owners(srv.additional), (std::vector<std::string>{"srv.hop.test./1", "./41"}));
  EXPECT_EQ(srv.additional[0].rdata, std::string("\x0a\x02\x02\x02", 4));  // the policy's choice
  auto ptr = ask("p.hop.test.", type::kPTR);  // not a type with additional processing
  EXPECT_EQ(owners(ptr.additional), (std::vector<std::string>{"./41"}));
}

TEST_F(DelegationTest, AdditionalDataWithoutRoomIsLeftOutNeverTruncating) {
  std::string yaml = "listen: [127.0.0.1:0]\nzones:\n  - origin: hop.test.\n    records:\n";
  for (int i = 0; i < 10; ++i) {
    std::string mx = "mail-server-" + std::to_string(10 + i);
    yaml += "      - {name: \"@\", type: MX, value: \"" + std::to_string(i) + " " + mx + "\"}\n";
    yaml += "      - {name: " + mx + ", type: AAAA, value: \"2001:db8::" + std::to_string(i + 1) + "\"}\n";
  }
  std::string errors;
  cfg_ = load(yaml, &errors);
  ASSERT_TRUE(cfg_) << errors;
  auto r = ask("hop.test.", type::kMX, false, no_edns());  // 512 bytes: the answer fits, not all addresses
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.answer.size(), 10u);
  EXPECT_GT(r.additional.size(), 0u);
  EXPECT_LT(r.additional.size(), 10u) << "the test needs the space to run out";
  EXPECT_LE(wire_size_, 512u);
  auto tcp = ask("hop.test.", type::kMX, true);
  EXPECT_EQ(tcp.additional.size(), 10u + 1);  // all of them, and the OPT
}

TEST_F(DelegationTest, AnAdditionalRrsetThatDoesNotFitIsLeftOutWhole) {
  std::string yaml = "listen: [127.0.0.1:0]\nzones:\n  - origin: hop.test.\n    records:\n";
  for (int i = 0; i < 8; ++i) {
    std::string ns = "name-server-number-" + std::to_string(i) + ".servers";  // optional glue
    yaml += "      - {name: big, type: NS, value: " + ns + "}\n";
    yaml += "      - {name: " + ns + ", type: A, values: [192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4]}\n";
  }
  std::string errors;
  cfg_ = load(yaml, &errors);
  ASSERT_TRUE(cfg_) << errors;
  auto r = ask("www.big.hop.test.", type::kA, false, no_edns());
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.authority.size(), 8u);
  ASSERT_FALSE(r.additional.empty());
  std::map<std::string, int> per_owner;
  for (const auto& rr : r.additional) ++per_owner[rr.owner];
  for (const auto& [owner, n] : per_owner) EXPECT_EQ(n, 4) << owner << " has a partial A set";
  EXPECT_LT(per_owner.size(), 8u) << "the test needs the space to run out";
}

TEST_F(DelegationTest, GlueAtTheCutItselfAndPolicyGlueAreServed) {
  std::string errors;
  cfg_ = load(R"(
listen: [127.0.0.1:0]
zones:
  - origin: hop.test.
    records:
      - {name: sub, type: NS, values: [sub, ns2.sub]}
      - {name: sub, type: A, value: 192.0.2.1}
      - {name: ns2.sub, type: A, policy: weighted, answers: [{value: 192.0.2.2, weight: 1}, {value: 192.0.2.3, weight: 1}]}
      - {name: "@", type: MX, value: "10 mail"}
      - {name: mail, type: A, policy: weighted, answers: [{value: 10.0.0.1, weight: 1}, {value: 10.0.0.2, weight: 1}]}
)",
              &errors);
  ASSERT_TRUE(cfg_) << errors;
  auto r = ask("x.sub.hop.test.", type::kA);
  EXPECT_FALSE(r.aa());
  EXPECT_EQ(owners(r.additional), (std::vector<std::string>{"sub.hop.test./1", "ns2.sub.hop.test./1", "./41"}));
  EXPECT_EQ(info_.decision, Decision::kNone) << "a referral's glue is not the answer's decision";
  auto mx = ask("hop.test.", type::kMX);
  EXPECT_EQ(owners(mx.additional), (std::vector<std::string>{"mail.hop.test./1", "./41"}));
  EXPECT_EQ(info_.decision, Decision::kNone) << "the MX answer is simple; its target's A is additional";
}

TEST_F(DelegationTest, LongNamesUnderAndBesideACut) {
  std::string deep;
  for (int i = 0; i < 55; ++i) deep += "a.";  // the test decoder reads up to 64 labels
  auto below = ask(deep + "host.sub.hop.test.", type::kA);  // 59 labels, under the cut
  EXPECT_FALSE(below.aa());
  EXPECT_EQ(below.authority.size(), 3u);
  auto beside = ask(deep + "nowhere.y.w.hop.test.", type::kTXT);
  EXPECT_EQ(beside.rcode, rcode::kNXDomain);  // closest encloser y.w has no wildcard
  auto wild = ask(deep + "hop.test.", type::kA);  // the apex wildcard covers it
  EXPECT_EQ(wild.a_values(), std::vector<std::string>{"10.0.0.9"});
}

TEST_F(DelegationTest, AServerInsideItsDelegationNeedsGlue) {
  std::string errors;
  auto cfg = load(R"(
listen: [127.0.0.1:0]
zones:
  - origin: t.
    records:
      - {name: sub, type: NS, values: [ns.sub, ns.other.example.]}
      - {name: ok, type: NS, value: ns.ok}
      - {name: ns.ok, type: AAAA, value: "2001:db8::1"}
)",
                  &errors);
  EXPECT_FALSE(cfg);
  EXPECT_NE(errors.find("zone.yaml:6:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("the delegation sub.t. names ns.sub.t., inside it, with no A or AAAA glue"), std::string::npos)
      << errors;
  EXPECT_EQ(errors.find("ok.t."), std::string::npos) << "AAAA glue is enough: " << errors;
  EXPECT_EQ(errors.find("other.example"), std::string::npos) << errors;
}
