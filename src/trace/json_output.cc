#include "trace/json_output.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace hop::trace {

namespace {

// Three decimals: microseconds are the finest step the clocks here give meaningfully.
double ms(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

std::string to_json_line(const RequestTrace& t) {
  nlohmann::ordered_json j;
  j["index"] = t.index;
  j["url"] = t.url;
  j["method"] = t.method;
  j["protocol"] = t.protocol;
  j["status"] = t.status;
  j["dns_ms"] = ms(t.dns_ms);
  j["connect_ms"] = ms(t.connect_ms);
  j["tls_ms"] = ms(t.tls_ms);
  j["send_ms"] = ms(t.send_ms);
  j["ttfb_ms"] = ms(t.ttfb_ms);
  j["transfer_ms"] = ms(t.transfer_ms);
  j["total_ms"] = ms(t.total_ms);
  j["reused"] = t.reused;
  j["remote_addr"] = t.remote_addr;
  j["tls_version"] = t.tls_used ? t.tls.version : "";
  j["alpn"] = t.tls_used ? t.tls.alpn : "";
  j["bytes"] = t.bytes;
  j["throughput_bps"] = std::round(t.throughput_bps());
  auto st = nlohmann::ordered_json::array();
  for (const auto& e : t.server_timing) {
    nlohmann::ordered_json o;
    o["name"] = e.name;
    if (e.dur) o["dur"] = *e.dur;
    else o["dur"] = nullptr;
    o["desc"] = e.desc;
    st.push_back(std::move(o));
  }
  j["server_timing"] = std::move(st);
  j["traceparent"] = t.traceparent;
  nlohmann::ordered_json dns;
  dns["source"] = t.dns.source;
  dns["resolver"] = t.dns.resolver;
  dns["addresses"] = t.dns.addresses;
  if (t.dns.ttl >= 0) dns["ttl"] = t.dns.ttl;
  else dns["ttl"] = nullptr;
  dns["cached"] = t.dns.cached;
  j["dns"] = std::move(dns);
  if (t.tls_used) {
    nlohmann::ordered_json tls;
    tls["version"] = t.tls.version;
    tls["cipher"] = t.tls.cipher;
    tls["alpn"] = t.tls.alpn;
    tls["resumed"] = t.tls.resumed;
    tls["subject"] = t.tls.subject;
    tls["issuer"] = t.tls.issuer;
    tls["not_after"] = t.tls.not_after;
    j["tls"] = std::move(tls);
  } else {
    j["tls"] = nullptr;
  }
  j["ok"] = t.ok();
  if (t.ok()) {
    j["failed_phase"] = nullptr;
    j["error"] = nullptr;
  } else {
    j["failed_phase"] = phase_name(t.failed_phase);
    j["error"] = t.error;
  }
  // Replace, not throw, on invalid UTF-8 from a server's reason phrase or certificate.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace hop::trace
