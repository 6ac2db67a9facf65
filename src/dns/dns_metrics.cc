#include "dns/dns_metrics.h"

#include "dns/rdata_text.h"

namespace hop::dns {

namespace {
const char* rcode_name(size_t r) {
  static const char* names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
                                "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
                                "RCODE12", "RCODE13", "RCODE14", "RCODE15", "BADVERS"};
  return r < 17 ? names[r] : "OTHER";
}
}  // namespace

void render_dns_metrics(const std::vector<const DnsMetrics*>& workers, std::string& out) {
  auto sum = [&](auto member) {
    uint64_t s = 0;
    for (const auto* w : workers) s += (w->*member).load(std::memory_order_relaxed);
    return s;
  };
  auto sum_at = [&](auto member, size_t i) {
    uint64_t s = 0;
    for (const auto* w : workers) s += (w->*member)[i].load(std::memory_order_relaxed);
    return s;
  };
  out += "# HELP hop_dns_queries_total DNS queries answered, by query type.\n# TYPE hop_dns_queries_total counter\n";
  for (size_t i = 0; i < DnsMetrics::kQtypeBuckets; ++i) {
    std::string t = i + 1 < DnsMetrics::kQtypeBuckets ? type_to_text(DnsMetrics::kQtypes[i]) : "OTHER";
    out += "hop_dns_queries_total{qtype=\"" + t + "\"} " + std::to_string(sum_at(&DnsMetrics::by_qtype_, i)) + "\n";
  }
  out += "# HELP hop_dns_responses_total DNS responses by rcode.\n# TYPE hop_dns_responses_total counter\n";
  for (size_t i = 0; i < DnsMetrics::kRcodeBuckets; ++i) {
    uint64_t v = sum_at(&DnsMetrics::by_rcode_, i);
    if (v || i <= 5)
      out += "hop_dns_responses_total{rcode=\"" + std::string(rcode_name(i)) + "\"} " + std::to_string(v) + "\n";
  }
  out += "# HELP hop_dns_policy_decisions_total Routing policy outcomes.\n# TYPE hop_dns_policy_decisions_total counter\n";
  for (size_t i = 1; i < size_t(Decision::kCount); ++i)
    out += "hop_dns_policy_decisions_total{decision=\"" + std::string(decision_name(Decision(i))) + "\"} " +
           std::to_string(sum_at(&DnsMetrics::by_decision_, i)) + "\n";
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(v) + "\n";
  };
  counter("hop_dns_udp_queries_total", "Queries received over UDP.", sum(&DnsMetrics::udp_queries_));
  counter("hop_dns_tcp_queries_total", "Queries received over TCP.", sum(&DnsMetrics::tcp_queries_));
  counter("hop_dns_truncated_total", "UDP answers sent with TC set.", sum(&DnsMetrics::truncated_));
  counter("hop_dns_referrals_total", "Referrals to a delegated child zone (names at or below a cut).",
          sum(&DnsMetrics::referrals_));
  counter("hop_dns_wildcard_answers_total", "Answers synthesized from a wildcard.",
          sum(&DnsMetrics::wildcard_answers_));
  counter("hop_dns_dropped_total", "Packets dropped without an answer (short, or responses).",
          sum(&DnsMetrics::dropped_));
  counter("hop_dns_tcp_rejected_total", "TCP connections refused over dns.tcp.max_connections.",
          sum(&DnsMetrics::tcp_rejected_));
  counter("hop_dns_tcp_idle_closed_total", "TCP connections closed after dns.tcp.idle_timeout.",
          sum(&DnsMetrics::tcp_idle_closed_));
}

}  // namespace hop::dns
