// The server as real clients see it: dig, kdig and dnspython against a server on a thread.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "dns_test_util.h"

using namespace hop::dns;
using namespace hop::dns::testing;

namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// The clients below are installed by scripts/install-deps --test: a missing one fails the
// test (a skip would let CI pass with the server never seen by a real client).
bool have(const char* tool) { return run(std::string("command -v ") + tool).find('/') != std::string::npos; }

std::string example() {
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../../examples/dns.yaml";
  std::stringstream ss;
  ss << YAML::LoadFile(path.string())["dns"];
  return ss.str();
}

}  // namespace

TEST(DnsTools, DigSeesAuthoritativeAnswersNegativeAnswersAndTcpFallback) {
  ASSERT_TRUE(have("dig")) << "dig not installed (Debian package dnsutils)";
  ServerThread s(example());
  ASSERT_TRUE(s.ok) << s.error;
  std::string at = "dig @127.0.0.1 -p " + s.port() + " +tries=1 +time=2 ";
  auto a = run(at + "Feed.HOP.test A");
  EXPECT_NE(a.find("flags: qr aa rd"), std::string::npos) << a;
  // The owner keeps the question's case; the target may be compressed against it, and DNS
  // names compare case-insensitively.
  EXPECT_NE(a.find("Feed.HOP.test.\t\t300\tIN\tCNAME\twww."), std::string::npos) << a;
  EXPECT_NE(a.find("\t60\tIN\tA\t10.0.0."), std::string::npos) << a;
  auto nx = run(at + "missing.hop.test A");
  EXPECT_NE(nx.find("status: NXDOMAIN"), std::string::npos) << nx;
  EXPECT_NE(nx.find("IN\tSOA\tns1.hop.test. hostmaster.hop.test."), std::string::npos) << nx;
  auto big = run(at + "big.hop.test TXT");  // dig retries over TCP on TC
  EXPECT_NE(big.find("Truncated, retrying in TCP mode"), std::string::npos) << big;
  EXPECT_NE(big.find("chunk5-"), std::string::npos) << big;
  auto ignore_tc = run(at + "+ignore big.hop.test TXT");
  EXPECT_NE(ignore_tc.find(" tc "), std::string::npos) << ignore_tc;
  auto geo = run(at + "+subnet=198.51.100.0/24 geo.hop.test A");
  EXPECT_NE(geo.find("10.2.0.1"), std::string::npos) << geo;
  EXPECT_NE(geo.find("CLIENT-SUBNET: 198.51.100.0/24/24"), std::string::npos) << geo;
  auto refused = run(at + "example.com A");
  EXPECT_NE(refused.find("status: REFUSED"), std::string::npos) << refused;
  auto badvers = run(at + "+edns=1 +noednsneg www.hop.test A");
  EXPECT_NE(badvers.find("BADVERS"), std::string::npos) << badvers;
}

TEST(DnsTools, KdigPipelinesOverTcp) {
  ASSERT_TRUE(have("kdig")) << "kdig not installed (Debian package knot-dnsutils)";
  ServerThread s(example());
  ASSERT_TRUE(s.ok) << s.error;
  auto out = run("kdig @127.0.0.1 -p " + s.port() + " +tcp +keepopen ns1.hop.test A hop.test MX hop.test SOA");
  EXPECT_NE(out.find("127.0.0.1"), std::string::npos) << out;
  EXPECT_NE(out.find("mail.hop.test."), std::string::npos) << out;
  EXPECT_NE(out.find("hostmaster.hop.test."), std::string::npos) << out;
}

TEST(DnsTools, DnspythonGeoWeightedAndMalformed) {
  ASSERT_NE(run("/usr/bin/python3 -c 'import dns.message; print(\"ok\")'").find("ok"), std::string::npos)
      << "python3-dnspython not installed";
  ServerThread s(example());
  ASSERT_TRUE(s.ok) << s.error;
  std::string script = R"PY(
import collections, socket, sys
import dns.edns, dns.flags, dns.message, dns.query, dns.rcode
port = int(sys.argv[1])
def ask(name, rdtype='A', **kw):
    q = dns.message.make_query(name, rdtype, use_edns=0, **kw)
    return dns.query.udp(q, '127.0.0.1', port=port, timeout=2)
for subnet, want in (('192.0.2.0', '10.1.0.1'), ('198.51.100.0', '10.2.0.1'), ('203.0.113.0', '10.9.0.1')):
    r = ask('geo.hop.test', options=[dns.edns.ECSOption(subnet, 24)])
    got = r.answer[0][0].address
    assert got == want, (subnet, got)
    ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)][0]
    assert ecs.scopelen == (24 if want != '10.9.0.1' else 0), ecs.scopelen
counts = collections.Counter(ask('www.hop.test').answer[0][0].address for _ in range(2000))
assert abs(counts['10.0.0.1'] / 2000 - 0.9) < 0.03, counts
r = ask('big.hop.test', 'TXT')
assert r.flags & dns.flags.TC, r
r = dns.query.tcp(dns.message.make_query('big.hop.test', 'TXT'), '127.0.0.1', port=port, timeout=2)
assert len(r.answer[0]) == 6
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
wire = dns.message.make_query('www.hop.test', 'A').to_wire()
s.sendto(wire[:-3], ('127.0.0.1', port))
bad = dns.message.from_wire(s.recv(4096), question_only=True)
assert bad.rcode() == dns.rcode.FORMERR, bad.rcode()
r = ask('WwW.HoP.TeSt')
assert r.question[0].name.to_text() == 'WwW.HoP.TeSt.', r.question[0].name
print('all-ok')
)PY";
  auto path = std::filesystem::temp_directory_path() / ("hop_dns_py_" + std::to_string(getpid()) + ".py");
  FILE* f = fopen(path.c_str(), "w");
  fputs(script.c_str(), f);
  fclose(f);
  auto out = run("/usr/bin/python3 " + path.string() + " " + s.port());
  std::filesystem::remove(path);
  EXPECT_NE(out.find("all-ok"), std::string::npos) << out;
}

TEST(DnsTools, KdigAndDigSeeAnOptOnEveryAnswerToAnEdnsQuery) {
  if (!have("kdig") || !have("dig")) GTEST_SKIP() << "kdig or dig not installed";
  ServerThread s(example());
  ASSERT_TRUE(s.ok) << s.error;
  for (const char* proto : {"+notcp", "+tcp"}) {
    std::string at = "kdig @127.0.0.1 -p " + s.port() + " +retry=0 +time=2 " + proto + " ";
    // ECS with bits set past its /20 prefix (RFC 7871 §6): FORMERR, with an OPT carrying DO.
    auto ecs = run(at + "+dnssec +ednsopt=8:00011400c0002f www.hop.test A");
    EXPECT_NE(ecs.find("status: FORMERR"), std::string::npos) << ecs;
    EXPECT_NE(ecs.find("EDNS PSEUDOSECTION"), std::string::npos) << ecs;
    EXPECT_NE(ecs.find("flags: do;"), std::string::npos) << ecs;
    auto ok = run(at + "+dnssec ns1.hop.test A");
    EXPECT_NE(ok.find("flags: do;"), std::string::npos) << ok;
    // Transfers and NOTIFY: REFUSED for a zone hop serves (NSD's answer).
    auto ixfr = run(at + "-t IXFR=1 hop.test");
    EXPECT_NE(ixfr.find("REFUSED"), std::string::npos) << ixfr;
    auto notify = run(at + "-t NOTIFY hop.test");
    EXPECT_NE(notify.find("opcode: NOTIFY; status: REFUSED"), std::string::npos) << notify;
    // Class ANY: the IN data without AA (RFC 1035 §6.2).
    auto any = run(at + "-c ANY ns1.hop.test A");
    EXPECT_NE(any.find("status: NOERROR"), std::string::npos) << any;
    EXPECT_NE(any.find("Flags: qr rd;"), std::string::npos) << any;
    auto mailb = run(at + "-t TYPE253 ns1.hop.test");  // MAILB: kdig has no mnemonic for it
    EXPECT_NE(mailb.find("status: NOERROR"), std::string::npos) << mailb;
    EXPECT_NE(mailb.find("SOA"), std::string::npos) << mailb;
  }
  auto axfr = run("kdig @127.0.0.1 -p " + s.port() + " +time=2 -t AXFR hop.test");
  EXPECT_NE(axfr.find("REFUSED"), std::string::npos) << axfr;
  // A question-less query with EDNS (dig +header-only): FORMERR with the OPT, as Knot.
  for (const char* proto : {"+notcp", "+tcp"}) {
    auto none = run("dig @127.0.0.1 -p " + s.port() + " +tries=1 +time=2 +header-only +edns=0 " + proto);
    EXPECT_NE(none.find("status: FORMERR"), std::string::npos) << none;
    EXPECT_NE(none.find("OPT PSEUDOSECTION"), std::string::npos) << none;
  }
}

TEST(DnsTools, DnspythonSeesEveryUnusualAnswerOverUdpAndTcp) {
  if (run("/usr/bin/python3 -c 'import dns.message; print(\"ok\")'").find("ok") == std::string::npos)
    GTEST_SKIP() << "python3-dnspython not installed";
  ServerThread s(example());
  ASSERT_TRUE(s.ok) << s.error;
  std::string script = R"PY(
import sys
import dns.edns, dns.flags, dns.message, dns.opcode, dns.query, dns.rcode, dns.rdataclass
port = int(sys.argv[1])
def both(q):
    for send in (dns.query.udp, dns.query.tcp):
        yield send.__name__, send(q, '127.0.0.1', port=port, timeout=2)
def check(q, rcode, aa=False, opt=True):
    for proto, r in both(q):
        assert r.rcode() == rcode, (proto, q.question, dns.rcode.to_text(r.rcode()))
        assert bool(r.flags & dns.flags.AA) == aa, (proto, q.question, 'AA')
        assert (r.edns >= 0) == opt, (proto, q.question, 'OPT')
        if opt:
            assert (r.ednsflags & dns.flags.DO) == (q.ednsflags & dns.flags.DO), (proto, q.question, 'DO')
# Malformed ECS options, sent raw: FORMERR with an OPT (RFC 6891 §7), DO copied.
for raw in (b'\x00\x01\x14\x00\xc0\x00\x2f', b'\x00\x01\x10\x00\xc0\x00\x02', b'\x00\x01\x21\x00\xc0\x00\x02\x00\x00',
            b'\x00\x03\x08\x00\x01', b'\x00\x01\x18\x08\xc0\x00\x02', b'\x00\x01'):
    q = dns.message.make_query('www.hop.test', 'A', use_edns=0, want_dnssec=True,
                               options=[dns.edns.GenericOption(8, raw)])
    check(q, dns.rcode.FORMERR)
check(dns.message.make_query('ns1.hop.test', 'A', use_edns=0, want_dnssec=True), dns.rcode.NOERROR, aa=True)
check(dns.message.make_query('missing.hop.test', 'A', use_edns=0, want_dnssec=True), dns.rcode.NXDOMAIN, aa=True)
check(dns.message.make_query('hop.test', 'IXFR', use_edns=0), dns.rcode.REFUSED)
notify = dns.message.make_query('hop.test', 'SOA', use_edns=0)
notify.set_opcode(dns.opcode.NOTIFY)
notify.flags &= ~dns.flags.RD
check(notify, dns.rcode.REFUSED)
check(dns.message.make_query('id.server', 'TXT', rdclass=dns.rdataclass.CH, use_edns=0), dns.rcode.REFUSED)
check(dns.message.make_query('version.bind', 'TXT', rdclass=dns.rdataclass.CH, use_edns=0), dns.rcode.REFUSED)
check(dns.message.make_query('ns1.hop.test', 'A', rdclass=dns.rdataclass.ANY, use_edns=0), dns.rcode.NOERROR)
for t in ('OPT', 'MAILA', 'MAILB'):
    check(dns.message.make_query('ns1.hop.test', t, use_edns=0), dns.rcode.NOERROR, aa=True)
print('all-ok')
)PY";
  auto path = std::filesystem::temp_directory_path() / ("hop_dns_unusual_" + std::to_string(getpid()) + ".py");
  FILE* f = fopen(path.c_str(), "w");
  fputs(script.c_str(), f);
  fclose(f);
  auto out = run("/usr/bin/python3 " + path.string() + " " + s.port());
  std::filesystem::remove(path);
  EXPECT_NE(out.find("all-ok"), std::string::npos) << out;
}
