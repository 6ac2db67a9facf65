// libFuzzer target for the DNS query parser and the whole answer path: any bytes, over UDP
// and TCP limits, must produce either no answer or a well-formed one within the buffer.
#include <netinet/in.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "dns/answer.h"
#include "dns/dns_config.h"
#include "dns/wire.h"

using namespace hop;

namespace {

std::string zone_yaml() {
  return R"(
listen: [127.0.0.1:0]
geo: {eu: [192.0.2.0/24, "2001:db8::/32"], us: [198.51.100.0/24]}
zones:
  - origin: hop.test.
    records:
      - {name: "@", type: NS, value: ns1}
      - {name: ns1, type: A, value: 127.0.0.1}
      - {name: www, type: A, policy: weighted, answers: [{value: 10.0.0.1, weight: 90}, {value: 10.0.0.2, weight: 10}]}
      - {name: geo, type: A, policy: geo, answers: [{value: 10.1.0.1, location: eu}, {value: 10.9.0.1, location: default}]}
      - {name: mv, type: A, policy: multivalue, answers: [{values: [10.0.0.1, 10.0.0.2, 10.0.0.3]}]}
      - {name: a, type: CNAME, value: b}
      - {name: b, type: CNAME, value: a}
      - {name: c, type: CNAME, value: www}
      - {name: "@", type: MX, value: "10 mail"}
      - {name: "@", type: TXT, values: ["x", "y"]}
      - {name: big, type: TXT, values: [")" + std::string(250, 'a') + R"(", ")" + std::string(250, 'b') + R"(", ")" +
                   std::string(250, 'c') + R"(", ")" + std::string(250, 'd') + R"(", ")" + std::string(250, 'e') + R"("]}
      - {name: _s._tcp, type: SRV, value: "1 2 3 www"}
      - {name: "*", type: A, value: 10.0.0.9}
      - {name: "*.w", type: CNAME, value: x.w}
      - {name: "*.m", type: MX, values: ["1 ns1", "2 ns1.d", "3 www"]}
      - {name: "y.*.e", type: TXT, value: t}
      - {name: d, type: NS, values: [ns1.d, ns1, out.example.]}
      - {name: ns1.d, type: A, value: 192.0.2.1}
      - {name: ns1.d, type: AAAA, value: "2001:db8::1"}
      - {name: to-d, type: CNAME, value: x.d}
  - origin: sub.hop.test.
    records:
      - {name: x, type: AAAA, value: "2001:db8::1"}
)";
}

const dns::DnsConfig& zone_config() {
  static std::shared_ptr<const dns::DnsConfig> cfg = [] {
    config::ConfigErrors errs("fuzz");
    auto c = dns::parse_dns_config(YAML::Load(zone_yaml()), ".", errs);
    if (!c) abort();
    return c;
  }();
  return *cfg;
}

// Walks a response like a client would; aborts on anything a client could not parse. Counts
// the OPT records and reads the DO bit of the last.
void check_response(const uint8_t* m, size_t n, size_t limit, size_t& opts, bool& dnssec_ok) {
  if (n < dns::kHeaderSize || n > limit) abort();
  size_t records = size_t(dns::get16(m + 6)) + dns::get16(m + 8) + dns::get16(m + 10);
  size_t pos = dns::kHeaderSize;
  dns::WireName name;
  for (uint16_t i = 0; i < dns::get16(m + 4); ++i) {
    pos = dns::read_name(m, n, pos, name);
    if (pos == 0 || pos + 4 > n) abort();
    pos += 4;
  }
  opts = 0;
  for (size_t i = 0; i < records; ++i) {
    pos = dns::read_name(m, n, pos, name);
    if (pos == 0 || pos + 10 > n) abort();
    if (dns::get16(m + pos) == dns::type::kOPT) ++opts, dnssec_ok = (m[pos + 6] & 0x80) != 0;
    pos += 10 + dns::get16(m + pos + 8);
    if (pos > n) abort();
  }
  if (pos != n) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& cfg = zone_config();
  static const dns::DnsHealth health;  // every answer in rotation: the zone has no checks
  static dns::Rng rng(1);
  static dns::Query q;
  static std::vector<uint8_t> out(dns::kMaxTcpMessage);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0xC0000205);
  for (bool tcp : {false, true}) {
    dns::AnswerInfo info;
    size_t n = dns::answer_query(cfg, health, data, size, reinterpret_cast<sockaddr*>(&src), tcp, rng, q, out.data(),
                                 tcp ? out.size() : 4096, info);
    if (n == 0) {
      if (!info.dropped) abort();
      continue;
    }
    size_t opts;
    bool dnssec_ok = false;
    check_response(out.data(), n, tcp ? out.size() : 4096, opts, dnssec_ok);
    // RFC 6891 §6.1.1: an OPT exactly when the query had one, whatever the rcode, carrying
    // the query's DO bit (RFC 3225 §3).
    if (opts != (q.edns ? 1u : 0u) || (q.edns && dnssec_ok != q.dnssec_ok)) abort();
    if (!tcp && n > 512 && !q.edns) abort();  // RFC 1035 §4.2.1
    if (n >= 2 && size >= 2 && std::memcmp(out.data(), data, 2) != 0) abort();  // the id is echoed
  }
  return 0;
}
