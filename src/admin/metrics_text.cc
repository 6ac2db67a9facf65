#include "admin/metrics_text.h"

#include <cstdio>

namespace hop::admin {

namespace {

const char* kClasses[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};

void line(std::string& out, const char* name, const std::string& labels, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += buf;
  out += '\n';
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

template <typename Block, typename Get>
uint64_t sum(const std::vector<Block*>& blocks, Get get) {
  uint64_t s = 0;
  for (const auto* b : blocks) s += get(*b);
  return s;
}

std::string label(const char* key, const std::string& value) {
  std::string s = key;
  s += "=\"";
  for (char c : value) {
    if (c == '"' || c == '\\') s += '\\';
    if (c == '\n') { s += "\\n"; continue; }
    s += c;
  }
  s += '"';
  return s;
}

template <typename Block>
void histogram(std::string& out, const char* name, const std::string& lbl, const std::vector<Block*>& blocks,
               const stats::Histogram Block::*member) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= stats::Histogram::kBoundsMs.size(); ++i) {
    cumulative += sum(blocks, [&](const Block& b) { return (b.*member).bucket(i); });
    char le[32];
    if (i < stats::Histogram::kBoundsMs.size()) std::snprintf(le, sizeof le, "%g", stats::Histogram::kBoundsMs[i] / 1000.0);
    else std::snprintf(le, sizeof le, "+Inf");
    std::string name_b = std::string(name) + "_bucket";
    line(out, name_b.c_str(), lbl + ",le=\"" + le + "\"", static_cast<double>(cumulative));
  }
  std::string name_s = std::string(name) + "_sum", name_c = std::string(name) + "_count";
  line(out, name_s.c_str(), lbl, sum(blocks, [&](const Block& b) { return (b.*member).sum_us(); }) / 1e6);
  line(out, name_c.c_str(), lbl, static_cast<double>(cumulative));
}

}  // namespace

void render_metrics(const stats::Registry& registry, const ProcessGauges& process, const HealthEjections& health,
                    std::string& out) {
  using stats::ClusterStats;
  using stats::ListenerStats;
  header(out, "hop_config_generation", "gauge", "Generation of the configuration snapshot in force.");
  line(out, "hop_config_generation", "", static_cast<double>(process.config_generation));
  header(out, "hop_config_reloads_total", "counter", "Configuration reloads by result.");
  line(out, "hop_config_reloads_total", "result=\"ok\"", static_cast<double>(process.reloads_ok));
  line(out, "hop_config_reloads_total", "result=\"rejected\"", static_cast<double>(process.reloads_failed));
  header(out, "hop_draining", "gauge", "1 while the process drains before exit.");
  line(out, "hop_draining", "", process.draining ? 1 : 0);

  struct L {
    std::string name;
    std::vector<ListenerStats*> b;
  };
  std::vector<L> ls;
  registry.for_each_listener([&](const std::string& n, const auto& blocks) {
    L l{n, {}};
    for (const auto& p : blocks) l.b.push_back(p.get());
    ls.push_back(std::move(l));
  });
  header(out, "hop_downstream_requests_total", "counter", "Requests received from clients.");
  for (auto& l : ls)
    line(out, "hop_downstream_requests_total", label("listener", l.name),
         static_cast<double>(sum(l.b, [](const ListenerStats& s) { return s.requests.value(); })));
  header(out, "hop_downstream_responses_total", "counter", "Responses sent to clients by status class.");
  for (auto& l : ls)
    for (size_t c = 1; c <= 5; ++c)
      line(out, "hop_downstream_responses_total", label("listener", l.name) + ",class=\"" + kClasses[c] + "\"",
           static_cast<double>(sum(l.b, [&](const ListenerStats& s) { return s.responses[c].value(); })));
  header(out, "hop_downstream_connections_active", "gauge", "Open client connections.");
  for (auto& l : ls)
    line(out, "hop_downstream_connections_active", label("listener", l.name),
         static_cast<double>(sum(l.b, [](const ListenerStats& s) { return static_cast<uint64_t>(s.active_connections.value()); })));
  header(out, "hop_downstream_connections_total", "counter", "Client connections accepted.");
  for (auto& l : ls)
    line(out, "hop_downstream_connections_total", label("listener", l.name),
         static_cast<double>(sum(l.b, [](const ListenerStats& s) { return s.connections_accepted.value(); })));
  header(out, "hop_downstream_protocol_errors_total", "counter", "Malformed requests rejected by hop.");
  for (auto& l : ls)
    line(out, "hop_downstream_protocol_errors_total", label("listener", l.name),
         static_cast<double>(sum(l.b, [](const ListenerStats& s) { return s.protocol_errors.value(); })));
  header(out, "hop_downstream_upgrades_total", "counter",
         "Connections upgraded (101 Switching Protocols, WebSocket) and relayed as tunnels.");
  for (auto& l : ls)
    line(out, "hop_downstream_upgrades_total", label("listener", l.name),
         static_cast<double>(sum(l.b, [](const ListenerStats& s) { return s.upgrades.value(); })));
  header(out, "hop_downstream_tunnels_active", "gauge", "Upgraded (WebSocket) connections open now.");
  for (auto& l : ls)
    line(out, "hop_downstream_tunnels_active", label("listener", l.name),
         static_cast<double>(sum(l.b, [](const ListenerStats& s) { return static_cast<uint64_t>(s.active_tunnels.value()); })));
  header(out, "hop_downstream_spliced_bytes_total", "counter",
         "Response body bytes relayed with splice(2), never copied through hop.");
  for (auto& l : ls)
    line(out, "hop_downstream_spliced_bytes_total", label("listener", l.name),
         static_cast<double>(sum(l.b, [](const ListenerStats& s) { return s.spliced_bytes.value(); })));
  header(out, "hop_downstream_request_duration_seconds", "histogram", "Time from request head to response complete.");
  for (auto& l : ls)
    histogram(out, "hop_downstream_request_duration_seconds", label("listener", l.name), l.b, &ListenerStats::duration);

  struct C {
    std::string name;
    std::vector<ClusterStats*> b;
  };
  std::vector<C> cs;
  registry.for_each_cluster([&](const std::string& n, const auto& blocks) {
    C c{n, {}};
    for (const auto& p : blocks) c.b.push_back(p.get());
    cs.push_back(std::move(c));
  });
  auto counter = [&](const char* name, const char* help, auto get) {
    header(out, name, "counter", help);
    for (auto& c : cs) line(out, name, label("cluster", c.name), static_cast<double>(sum(c.b, get)));
  };
  counter("hop_upstream_requests_total", "Requests sent to upstream hosts (attempts, retries included).",
          [](const ClusterStats& s) { return s.requests.value(); });
  header(out, "hop_upstream_responses_total", "counter", "Upstream responses by status class.");
  for (auto& c : cs)
    for (size_t k = 1; k <= 5; ++k)
      line(out, "hop_upstream_responses_total", label("cluster", c.name) + ",class=\"" + kClasses[k] + "\"",
           static_cast<double>(sum(c.b, [&](const ClusterStats& s) { return s.responses[k].value(); })));
  counter("hop_upstream_connections_opened_total", "Upstream connections opened.",
          [](const ClusterStats& s) { return s.connections_opened.value(); });
  counter("hop_upstream_connections_reused_total", "Requests that reused a pooled upstream connection.",
          [](const ClusterStats& s) { return s.connections_reused.value(); });
  counter("hop_upstream_connect_failures_total", "Upstream connects that failed or timed out.",
          [](const ClusterStats& s) { return s.connect_failures.value(); });
  counter("hop_upstream_keepalive_timeouts_total",
          "Upstream HTTP/2 connections closed because a keepalive PING went unanswered.",
          [](const ClusterStats& s) { return s.keepalive_timeouts.value(); });
  counter("hop_upstream_timeouts_total", "Requests that timed out waiting for the upstream.",
          [](const ClusterStats& s) { return s.timeouts.value(); });
  counter("hop_upstream_resets_total", "Upstream connections reset or closed mid-request.",
          [](const ClusterStats& s) { return s.resets.value(); });
  counter("hop_upstream_pool_overflow_total", "Requests rejected because the pool queue was full.",
          [](const ClusterStats& s) { return s.pool_overflow.value(); });
  counter("hop_upstream_circuit_breaker_open_total", "Requests refused by a circuit breaker (503 overflow).",
          [](const ClusterStats& s) { return s.breaker_open.value(); });
  counter("hop_upstream_retries_total", "Retries sent to the cluster.",
          [](const ClusterStats& s) { return s.retries.value(); });
  counter("hop_upstream_retry_budget_exhausted_total", "Retries not sent because the retry budget was spent.",
          [](const ClusterStats& s) { return s.retry_overflow.value(); });
  counter("hop_upstream_no_healthy_total", "Requests that found no host to send to.",
          [](const ClusterStats& s) { return s.no_healthy.value(); });
  header(out, "hop_upstream_ejections_total", "counter",
         "Hosts taken out of rotation, by what decided it: passive detection (connect_failure, 5xx, timeout, "
         "reset) or the health checker (health_check).");
  for (auto& c : cs) {
    for (size_t r = 0; r < static_cast<size_t>(stats::EjectionCause::kCount); ++r)
      line(out, "hop_upstream_ejections_total",
           label("cluster", c.name) + "," + label("reason", stats::to_string(static_cast<stats::EjectionCause>(r))),
           static_cast<double>(sum(c.b, [&](const ClusterStats& s) { return s.ejections[r].value(); })));
    auto h = health.find(c.name);
    line(out, "hop_upstream_ejections_total", label("cluster", c.name) + ",reason=\"health_check\"",
         static_cast<double>(h == health.end() ? 0 : h->second));
  }
  header(out, "hop_upstream_ejection_delay_seconds", "histogram",
         "Passive ejections: time from a host's first failure in a row to its ejection.");
  for (auto& c : cs)
    histogram(out, "hop_upstream_ejection_delay_seconds", label("cluster", c.name), c.b, &ClusterStats::ejection_delay);
  header(out, "hop_upstream_pending_requests", "gauge", "Requests queued for an upstream connection.");
  for (auto& c : cs)
    line(out, "hop_upstream_pending_requests", label("cluster", c.name),
         static_cast<double>(sum(c.b, [](const ClusterStats& s) { return static_cast<uint64_t>(s.pending.value()); })));
  header(out, "hop_upstream_connections_active", "gauge", "Open upstream connections (busy, idle, connecting).");
  for (auto& c : cs)
    line(out, "hop_upstream_connections_active", label("cluster", c.name),
         static_cast<double>(sum(c.b, [](const ClusterStats& s) { return static_cast<uint64_t>(s.active_connections.value()); })));
  header(out, "hop_upstream_ttfb_seconds", "histogram", "Upstream time to first response byte.");
  for (auto& c : cs) histogram(out, "hop_upstream_ttfb_seconds", label("cluster", c.name), c.b, &ClusterStats::ttfb);
}

}  // namespace hop::admin
