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
