// Malformed and unusual queries (issue 25) against examples/dns.yaml, with the answer each
// must get. The answer path (answer_test.cc) and a server on real sockets (server_test.cc)
// run the same table, over UDP and over TCP. docs/dns.md ("Unusual queries") says which of
// Knot's and NSD's answers each one matches; tests/integration/dns/test_dns_conformance.py
// checks that against the real servers.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "dns_test_util.h"

namespace hop::dns::testing {

struct ConformanceCase {
  std::string what;
  std::vector<uint8_t> query;
  uint16_t rcode_udp;  // with the extended bits of the OPT
  uint16_t rcode_tcp;
  bool opt;            // the answer carries an OPT record
  bool dnssec_ok;      // ... with DO set
  bool question;       // the question is echoed
  bool aa;
  size_t answers = 0, authority = 0;  // records, OPT not counted
};

// gtest names a failing case by what it is, not by its bytes.
inline void PrintTo(const ConformanceCase& c, std::ostream* os) { *os << c.what; }

inline constexpr uint32_t kDO = 0x8000;  // in an OPT's TTL field (RFC 3225 §3)

inline std::vector<ConformanceCase> conformance_cases() {
  using M = RawMessage;
  const std::string www = "www.hop.test.", ns1 = "ns1.hop.test.", apex = "hop.test.";
  auto ecs_query = [&](std::vector<uint8_t> option) { return M().question(www, type::kA).opt(option, kDO).bytes(); };
  const std::vector<uint8_t> cookie = M::option(10, {1, 2, 3, 4, 5, 6, 7, 8});  // a client cookie (RFC 7873)
  constexpr uint16_t kFormErr = rcode::kFormErr, kNoError = rcode::kNoError, kRefused = rcode::kRefused,
                     kNotAuth = rcode::kNotAuth, kNotImp = rcode::kNotImp, kNXDomain = rcode::kNXDomain;
  return {
      // RFC 6891 §7: a problem with the OPT record itself is FORMERR, and that answer MUST
      // carry an OPT. RFC 7871 §6 makes each of these ECS options malformed.
      {"ECS with bits set past the source prefix", ecs_query(M::ecs(1, 20, 0, {192, 0, 0x2f})), kFormErr, kFormErr,
       true, true, true, false},
      {"ECS with more address octets than the prefix covers", ecs_query(M::ecs(1, 16, 0, {192, 0, 2})), kFormErr,
       kFormErr, true, true, true, false},
      {"ECS with fewer address octets than the prefix covers", ecs_query(M::ecs(1, 24, 0, {192, 0})), kFormErr,
       kFormErr, true, true, true, false},
      {"ECS with IPv4 source prefix 33", ecs_query(M::ecs(1, 33, 0, {192, 0, 2, 0, 0})), kFormErr, kFormErr, true,
       true, true, false},
      {"ECS of an unknown address family", ecs_query(M::ecs(3, 8, 0, {1})), kFormErr, kFormErr, true, true, true,
       false},
      {"ECS with a nonzero scope in a query", ecs_query(M::ecs(1, 24, 8, {192, 0, 2})), kFormErr, kFormErr, true,
       true, true, false},
      {"ECS shorter than its fixed part", ecs_query(M::option(kEdnsOptionClientSubnet, {0, 1})), kFormErr, kFormErr,
       true, true, true, false},
      {"an option whose length runs past the OPT's RDATA",
       ecs_query(M::option(10, {1, 2, 3, 4, 5, 6, 7, 8}, 20)), kFormErr, kFormErr, true, true, true, false},
      {"an OPT whose owner is not the root",
       M().question(www, type::kA).opt({}, kDO, 1232, www).bytes(), kFormErr, kFormErr, true, true, true, false},
      {"two OPT records", M().question(www, type::kA).opt({}, kDO).opt().bytes(), kFormErr, kFormErr, true, true,
       true, false},
      {"an answer record in a query", M().question(www, type::kA).soa(1, apex).opt({}, kDO).bytes(), kFormErr,
       kFormErr, true, true, true, false},
      // RFC 9619 allows QDCOUNT 0 (RFC 7873 §5.4 asks for a server cookie that way); hop has
      // no cookies, and answers as Knot does: FORMERR, with the OPT.
      {"QDCOUNT 0 with EDNS", M().opt({}, kDO).bytes(), kFormErr, kFormErr, true, true, false, false},
      {"QDCOUNT 0 with EDNS and a client cookie", M().opt(cookie).bytes(), kFormErr, kFormErr, true, false, false,
       false},
      {"QDCOUNT 0 without EDNS", M().bytes(), kFormErr, kFormErr, false, false, false, false},
      {"QDCOUNT 2", M().question(www, type::kA).question(ns1, type::kA).opt({}, kDO).bytes(), kFormErr, kFormErr,
       true, true, false, false},
      // RFC 3225 §3: DO is copied into every response's OPT.
      {"DO on an answer", M().question(ns1, type::kA).opt({}, kDO).bytes(), kNoError, kNoError, true, true, true,
       true, 1},
      {"DO on NXDOMAIN", M().question("missing.hop.test.", type::kA).opt({}, kDO).bytes(), kNXDomain, kNXDomain,
       true, true, true, true, 0, 1},
      {"DO on a name outside every zone", M().question("example.com.", type::kA).opt({}, kDO).bytes(), kRefused,
       kRefused, true, true, true, false},
      {"DO on BADVERS", M().question(ns1, type::kA).opt({}, kDO | 1u << 16).bytes(), rcode::kBadVers,
       rcode::kBadVers, true, true, true, false},
      {"no DO, none copied", M().question(ns1, type::kA).opt().bytes(), kNoError, kNoError, true, false, true, true,
       1},
      {"an unknown opcode with EDNS", M().opcode(2).question(apex, type::kSOA).opt({}, kDO).bytes(), kNotImp,
       kNotImp, true, true, true, false},
      // hop serves no transfers and takes no NOTIFY: as NSD, REFUSED for a zone it serves
      // (RFC 1035 §4.1.1 names zone transfer as what a server may refuse), NOTAUTH for a
      // name that is not one of its zones (RFC 5936 §2.2.1). AXFR is TCP only (RFC 5936
      // §4.2): over UDP it stays NOTIMP, as all three answer.
      {"IXFR in RFC 1995 form (the client's SOA in authority)",
       M().question(apex, type::kIXFR).soa(2, apex).opt({}, kDO).bytes(), kRefused, kRefused, true, true, true,
       false},
      {"IXFR in RFC 1995 form without EDNS", M().question(apex, type::kIXFR).soa(2, apex).bytes(), kRefused, kRefused,
       false, false, true, false},
      {"IXFR of a name that is no zone", M().question(www, type::kIXFR).soa(2, www).opt().bytes(), kNotAuth, kNotAuth,
       true, false, true, false},
      {"AXFR of a served zone", M().question(apex, type::kAXFR).opt().bytes(), kNotImp, kRefused, true, false, true,
       false},
      {"AXFR outside every zone", M().question("example.com.", type::kAXFR).bytes(), kNotImp, kNotAuth, false, false,
       true, false},
      {"NOTIFY for a served zone", M(0).opcode(opcode::kNotify).question(apex, type::kSOA).opt({}, kDO).bytes(),
       kRefused, kRefused, true, true, true, false},
      {"NOTIFY with its SOA in the answer section",
       M(0).opcode(opcode::kNotify).question(apex, type::kSOA).soa(1, apex).bytes(), kRefused, kRefused, false, false,
       true, false},
      {"NOTIFY for a name that is no zone", M(0).opcode(opcode::kNotify).question("example.com.", type::kSOA).bytes(),
       kNotAuth, kNotAuth, false, false, true, false},
      // Free choices, decided in docs/dns.md.
      {"id.server in class CH", M().question("id.server.", type::kTXT, 3).opt().bytes(), kRefused, kRefused, true,
       false, true, false},
      {"hostname.bind in class CH", M().question("hostname.bind.", type::kTXT, 3).bytes(), kRefused, kRefused, false,
       false, true, false},
      {"version.bind in class CH", M().question("version.bind.", type::kTXT, 3).opt().bytes(), kRefused, kRefused,
       true, false, true, false},
      {"version.server in class CH", M().question("version.server.", type::kTXT, 3).bytes(), kRefused, kRefused,
       false, false, true, false},
      {"class ANY for a name with data", M().question(ns1, type::kA, kClassANY).opt().bytes(), kNoError, kNoError,
       true, false, true, false, 1},
      {"class ANY for a missing name", M().question("missing.hop.test.", type::kA, kClassANY).opt().bytes(),
       kNXDomain, kNXDomain, true, false, true, false},
      {"class ANY for a type the name lacks", M().question(ns1, type::kAAAA, kClassANY).bytes(), kNoError, kNoError,
       false, false, true, false},
      {"qtype OPT", M().question(ns1, type::kOPT).opt().bytes(), kNoError, kNoError, true, false, true, true, 0, 1},
      {"qtype OPT without EDNS", M().question(ns1, type::kOPT).bytes(), kNoError, kNoError, false, false, true, true,
       0, 1},
      {"qtype MAILB", M().question(ns1, type::kMAILB).opt().bytes(), kNoError, kNoError, true, false, true, true, 0,
       1},
      {"qtype MAILA", M().question(ns1, type::kMAILA).bytes(), kNoError, kNoError, false, false, true, true, 0, 1},
      {"qtype MAILB of a missing name", M().question("missing.hop.test.", type::kMAILB).bytes(), kNXDomain, kNXDomain,
       false, false, true, true, 0, 1},
  };
}

// What was wrong with `r` as an answer to `c`; empty when nothing.
inline std::string conformance_mismatch(const ConformanceCase& c, const std::optional<Response>& r, bool tcp) {
  if (!r) return "no answer";
  std::string out;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) out += what + "; ";
  };
  uint16_t want = tcp ? c.rcode_tcp : c.rcode_udp;
  check(r->rcode == want, "rcode " + std::to_string(r->rcode) + ", want " + std::to_string(want));
  check(r->id == get16(c.query.data()), "id not echoed");
  check(((r->flags >> 11) & 0xF) == ((get16(c.query.data() + 2) >> 11) & 0xF), "opcode not echoed");
  check(r->has_opt == c.opt, c.opt ? "no OPT" : "an OPT to a query without one");
  bool do_bit = false;
  for (const auto& rec : r->additional)
    if (rec.type == type::kOPT) do_bit = (rec.ttl & kDO) != 0;
  check(do_bit == c.dnssec_ok, c.dnssec_ok ? "DO not copied" : "DO set though not asked");
  check(r->qname.empty() != c.question, c.question ? "question not echoed" : "a question echoed");
  check(r->aa() == c.aa, c.aa ? "no AA" : "AA set");
  check(r->answer.size() == c.answers, std::to_string(r->answer.size()) + " answers");
  check(r->authority.size() == c.authority, std::to_string(r->authority.size()) + " authority records");
  return out;
}

// "ECS with bits set past ..." → "ECSWithBitsSetPast...": a test name per case.
inline std::string conformance_case_name(const ::testing::TestParamInfo<ConformanceCase>& info) {
  std::string out;
  bool up = true;
  for (char c : info.param.what) {
    if (!isalnum(uint8_t(c))) {
      up = up || c == ' ';
      continue;
    }
    out.push_back(up ? char(toupper(uint8_t(c))) : c);
    up = false;
  }
  return out;
}

}  // namespace hop::dns::testing
