#include <gtest/gtest.h>

#include "dns/wire.h"
#include "dns_test_util.h"

using namespace hop::dns;
using namespace hop::dns::testing;

namespace {
ParseResult parse(const std::vector<uint8_t>& m) {
  Query q;
  return parse_query(m.data(), m.size(), q);
}
}  // namespace

TEST(WireParse, AcceptsPlainQueryAndLowercasesName) {
  auto m = make_query("WwW.Hop.Test.", type::kA);
  Query q;
  ASSERT_EQ(parse_query(m.data(), m.size(), q), ParseResult::kOk);
  EXPECT_EQ(name_to_text(q.qname.view()), "www.hop.test.");
  EXPECT_EQ(q.qtype, type::kA);
  EXPECT_TRUE(q.edns);
  EXPECT_EQ(q.udp_payload, 1232);
}

TEST(WireParse, DropsShortPacketsAndResponses) {
  EXPECT_EQ(parse({1, 2, 3}), ParseResult::kDrop);
  auto m = make_query("a.test.", type::kA);
  m[2] |= 0x80;
  EXPECT_EQ(parse(m), ParseResult::kDrop);
}

TEST(WireParse, TruncatedQuestionIsFormErr) {
  auto m = make_query("www.hop.test.", type::kA, no_edns());
  for (size_t cut = 13; cut < m.size(); ++cut) {
    std::vector<uint8_t> t(m.begin(), m.begin() + long(cut));
    EXPECT_EQ(parse(t), ParseResult::kFormErr) << "cut at " << cut;
  }
}

TEST(WireParse, LabelPastTheEndIsFormErr) {
  std::vector<uint8_t> m{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 40, 'a', 'b', 0, 0, 1, 0, 1};
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
}

TEST(WireParse, CompressionLoopsAndForwardPointersAreFormErr) {
  // Name at 12 is a pointer to itself.
  std::vector<uint8_t> self{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
  EXPECT_EQ(parse(self), ParseResult::kFormErr);
  // A pointer forward to a pointer back: a two-step loop.
  std::vector<uint8_t> loop{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xC0, 16, 0xC0, 12, 0, 1, 0, 1};
  EXPECT_EQ(parse(loop), ParseResult::kFormErr);
  WireName n;
  EXPECT_EQ(read_name(loop.data(), loop.size(), 12, n), 0u);
}

TEST(WireParse, NameLongerThan255IsFormErr) {
  std::vector<uint8_t> m{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 5; ++i) {
    m.push_back(60);
    m.insert(m.end(), 60, 'x');
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
}

TEST(WireParse, OldLabelTypesAreFormErr) {
  std::vector<uint8_t> m{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0, 0, 1, 0, 1};
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
}

TEST(WireParse, WrongCountsAreFormErrAndOpcodeIsNotImp) {
  auto m = make_query("a.test.", type::kA, no_edns());
  m[5] = 2;  // qdcount 2
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
  m[5] = 0;
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
  m[5] = 1;
  m[7] = 1;  // ancount
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
  m[7] = 0;
  m[2] |= 0x10;  // opcode 2 (STATUS)
  EXPECT_EQ(parse(m), ParseResult::kNotImp);
}

TEST(WireParse, EdnsVersionAboveZeroIsBadVers) {
  auto m = make_query("a.test.", type::kA, edns_version(1));
  EXPECT_EQ(parse(m), ParseResult::kBadVers);
}

TEST(WireParse, TwoOptRecordsAreFormErr) {
  auto m = make_query("a.test.", type::kA);
  std::vector<uint8_t> opt(m.end() - 11, m.end());
  m.insert(m.end(), opt.begin(), opt.end());
  m[11] = 2;
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
}

TEST(WireParse, ParsesClientSubnetAndRejectsMalformedOnes) {
  auto m = make_query("a.test.", type::kA, with_ecs("192.0.2.0/24"));
  Query q;
  ASSERT_EQ(parse_query(m.data(), m.size(), q), ParseResult::kOk);
  EXPECT_TRUE(q.ecs.present);
  EXPECT_EQ(q.ecs.source_prefix, 24);
  EXPECT_EQ(q.ecs.address[2], 2);
  // Host bits set past the prefix (§6).
  auto bad = make_query("a.test.", type::kA, with_ecs("192.0.2.0/20"));
  bad[bad.size() - 1] = 0xFF;
  EXPECT_EQ(parse(bad), ParseResult::kFormErr);
  // Source prefix longer than the family allows.
  auto wide = make_query("a.test.", type::kA, with_ecs("192.0.2.0/24"));
  wide[wide.size() - 5] = 33;
  EXPECT_EQ(parse(wide), ParseResult::kFormErr);
}

TEST(WireParse, OptionLengthPastRdataIsFormErr) {
  auto m = make_query("a.test.", type::kA, with_ecs("192.0.2.0/24"));
  m[m.size() - 9] = 40;  // ECS option length
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
}

TEST(WireParse, AMalformedOptStillMarksTheQueryAsEdnsWithItsDoBit) {
  // RFC 6891 §7: the FORMERR for a broken OPT must itself carry an OPT, so the parser notes
  // the OPT (and DO, RFC 3225 §3) before it judges what is inside.
  const std::vector<std::vector<uint8_t>> broken = {
      RawMessage().question("a.test.", type::kA).opt(RawMessage::ecs(1, 33, 0, {1, 2, 3, 4, 5}), 0x8000).bytes(),
      RawMessage().question("a.test.", type::kA).opt(RawMessage::option(10, {1, 2}, 9), 0x8000).bytes(),
      RawMessage().question("a.test.", type::kA).opt({}, 0x8000, 1232, "a.test.").bytes(),
      RawMessage().question("a.test.", type::kA).opt({}, 0x8000).opt().bytes(),
      RawMessage().question("a.test.", type::kA).soa(1, "a.test.").opt({}, 0x8000).bytes(),
      RawMessage().opt({}, 0x8000).bytes(),
  };
  for (const auto& m : broken) {
    Query q;
    EXPECT_EQ(parse_query(m.data(), m.size(), q), ParseResult::kFormErr);
    EXPECT_TRUE(q.edns);
    EXPECT_TRUE(q.dnssec_ok);
  }
}

TEST(WireParse, AQueryWithoutOptIsNotEdnsEvenWhenMalformed) {
  auto m = RawMessage().question("a.test.", type::kA).soa(1, "a.test.").bytes();
  Query q;
  q.edns = q.dnssec_ok = true;  // left over from the previous query on this worker
  EXPECT_EQ(parse_query(m.data(), m.size(), q), ParseResult::kFormErr);
  EXPECT_FALSE(q.edns);
  EXPECT_FALSE(q.dnssec_ok);
}

TEST(WireParse, EveryMalformedClientSubnetIsFormErr) {
  // RFC 7871 §6: wrong address length, bits past the prefix, a prefix too long for the
  // family, an unknown family, a scope in a query, an option too short to hold its fields.
  const std::vector<std::vector<uint8_t>> bad = {
      RawMessage::ecs(1, 20, 0, {192, 0, 0x2f}), RawMessage::ecs(1, 16, 0, {192, 0, 2}),
      RawMessage::ecs(1, 24, 0, {192, 0}),       RawMessage::ecs(1, 33, 0, {192, 0, 2, 0, 0}),
      RawMessage::ecs(3, 8, 0, {1}),             RawMessage::ecs(1, 24, 8, {192, 0, 2}),
      RawMessage::option(kEdnsOptionClientSubnet, {0, 1}),
  };
  for (const auto& option : bad)
    EXPECT_EQ(parse(RawMessage().question("a.test.", type::kA).opt(option).bytes()), ParseResult::kFormErr);
  auto v6 = RawMessage::ecs(2, 48, 0, {0x20, 1, 0xd, 0xb8, 0, 1});
  EXPECT_EQ(parse(RawMessage().question("a.test.", type::kA).opt(v6).bytes()), ParseResult::kOk);
}

TEST(WireParse, Rfc1995IxfrWithTheClientsSoaInAuthorityIsWellFormed) {
  auto m = RawMessage().question("a.test.", type::kIXFR).soa(2, "a.test.").opt().bytes();
  Query q;
  ASSERT_EQ(parse_query(m.data(), m.size(), q), ParseResult::kOk);
  EXPECT_EQ(q.qtype, type::kIXFR);
  EXPECT_TRUE(q.edns);
  // Only IXFR has a use for the authority section in a query.
  auto a = RawMessage().question("a.test.", type::kA).soa(2, "a.test.").bytes();
  EXPECT_EQ(parse(a), ParseResult::kFormErr);
  // A truncated SOA is still malformed.
  m = RawMessage().question("a.test.", type::kIXFR).soa(2, "a.test.").bytes();
  m.resize(m.size() - 3);
  EXPECT_EQ(parse(m), ParseResult::kFormErr);
}

TEST(WireParse, NotifyIsParsedAndOtherOpcodesAreNotImpWithTheirOpt) {
  // RFC 1996 §3.7: a NOTIFY may carry the SOA in its answer section.
  auto n = RawMessage(0).opcode(opcode::kNotify).question("a.test.", type::kSOA).soa(1, "a.test.").bytes();
  Query q;
  ASSERT_EQ(parse_query(n.data(), n.size(), q), ParseResult::kOk);
  EXPECT_EQ(q.opcode, opcode::kNotify);
  auto status = RawMessage().opcode(2).question("a.test.", type::kSOA).opt({}, 0x8000).bytes();
  EXPECT_EQ(parse_query(status.data(), status.size(), q), ParseResult::kNotImp);
  EXPECT_TRUE(q.edns);
  EXPECT_TRUE(q.dnssec_ok);
}
