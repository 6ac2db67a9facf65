#include "config/loader.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "config/base/yaml_reader.h"
#include "config/dns_section.h"
#include "config/tls_section.h"

namespace hop::config {

namespace {

bool compile_regex(const YAML::Node& n, const std::string& pattern, std::shared_ptr<const std::regex>& out,
                   ConfigErrors& errs) {
  try {
    out = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript | std::regex::optimize);
    return true;
  } catch (const std::regex_error& e) {
    errs.add(n, "invalid regular expression '" + pattern + "': " + e.what());
    return false;
  }
}

struct Reader {
  ConfigErrors& errs;
  Config& cfg;
  const std::filesystem::path& base_dir;  // resolves certificate paths

  void header_matches(const YAML::Node& list, std::vector<HeaderMatch>& out) {
    if (!expect_sequence(list, errs, "match.headers")) return;
    for (const auto& h : list) {
      if (!check_keys(h, {"name", "exact", "prefix", "regex", "present", "invert"}, errs, "header match")) continue;
      HeaderMatch m;
      if (!h["name"]) errs.add(h, "header match needs a name");
      else read_string(h["name"], m.name, errs);
      int kinds = 0;
      if (h["exact"]) { ++kinds; m.kind = HeaderMatch::Kind::kExact; read_string(h["exact"], m.value, errs); }
      if (h["prefix"]) { ++kinds; m.kind = HeaderMatch::Kind::kPrefix; read_string(h["prefix"], m.value, errs); }
      if (h["regex"]) {
        ++kinds;
        m.kind = HeaderMatch::Kind::kRegex;
        if (read_string(h["regex"], m.value, errs)) compile_regex(h["regex"], m.value, m.regex, errs);
      }
      if (h["present"]) { ++kinds; bool b = true; read_bool(h["present"], b, errs); m.kind = HeaderMatch::Kind::kPresent; m.invert = !b; }
      if (kinds > 1) errs.add(h, "header match takes one of exact, prefix, regex, present");
      if (h["invert"]) read_bool(h["invert"], m.invert, errs);
      out.push_back(std::move(m));
    }
  }

  void route_match(const YAML::Node& n, RouteMatch& m) {
    if (!check_keys(n, {"prefix", "path", "regex", "methods", "headers"}, errs, "match")) return;
    int kinds = 0;
    if (n["prefix"]) { ++kinds; m.path_kind = RouteMatch::PathKind::kPrefix; read_string(n["prefix"], m.path, errs); }
    if (n["path"]) { ++kinds; m.path_kind = RouteMatch::PathKind::kExact; read_string(n["path"], m.path, errs); }
    if (n["regex"]) {
      ++kinds;
      m.path_kind = RouteMatch::PathKind::kRegex;
      if (read_string(n["regex"], m.path, errs)) compile_regex(n["regex"], m.path, m.path_regex, errs);
    }
    if (kinds > 1) errs.add(n, "match takes one of prefix, path, regex");
    if (m.path_kind != RouteMatch::PathKind::kRegex && (m.path.empty() || m.path[0] != '/'))
      errs.add(n, "path match must start with '/'");
    if (n["methods"] && expect_sequence(n["methods"], errs, "match.methods")) {
      for (const auto& x : n["methods"]) {
        std::string s;
        if (read_string(x, s, errs)) m.methods.push_back(s);
      }
    }
    if (n["headers"]) header_matches(n["headers"], m.headers);
  }

  void route(const YAML::Node& n, Route& r) {
    if (!check_keys(n, {"match", "cluster", "split", "direct", "redirect", "prefix_rewrite", "timeout", "retries"},
                    errs, "route"))
      return;
    if (n["match"]) route_match(n["match"], r.match);
    int actions = 0;
    if (n["cluster"]) {
      ++actions;
      r.action = Route::Action::kCluster;
      WeightedCluster wc;
      wc.weight = 1;
      read_string(n["cluster"], wc.name, errs);
      r.clusters.push_back(wc);
      r.total_weight = 1;
    }
    if (n["split"]) {
      ++actions;
      r.action = Route::Action::kSplit;
      if (expect_map(n["split"], errs, "split")) {
        for (auto it = n["split"].begin(); it != n["split"].end(); ++it) {
          WeightedCluster wc;
          uint64_t w = 0;
          read_string(it->first, wc.name, errs);
          if (read_uint(it->second, w, errs, 0, 1000000)) wc.weight = static_cast<uint32_t>(w);
          r.total_weight += wc.weight;
          r.clusters.push_back(wc);
        }
        if (r.total_weight == 0) errs.add(n["split"], "split weights must not all be 0");
      }
    }
    if (n["direct"]) {
      ++actions;
      r.action = Route::Action::kDirect;
      const auto& d = n["direct"];
      if (check_keys(d, {"status", "body", "content_type"}, errs, "direct")) {
        uint64_t st = 200;
        if (d["status"] && read_uint(d["status"], st, errs, 200, 599)) r.direct.status = static_cast<int>(st);
        if (d["body"]) read_string(d["body"], r.direct.body, errs);
        if (d["content_type"]) read_string(d["content_type"], r.direct.content_type, errs);
      }
    }
    if (n["redirect"]) {
      ++actions;
      r.action = Route::Action::kRedirect;
      const auto& d = n["redirect"];
      if (check_keys(d, {"scheme", "host", "path", "strip_query", "code"}, errs, "redirect")) {
        if (d["scheme"]) read_string(d["scheme"], r.redirect.scheme, errs);
        if (d["host"]) read_string(d["host"], r.redirect.host, errs);
        if (d["path"]) read_string(d["path"], r.redirect.path, errs);
        if (d["strip_query"]) read_bool(d["strip_query"], r.redirect.strip_query, errs);
        uint64_t code = 302;
        if (d["code"] && read_uint(d["code"], code, errs, 300, 308)) {
          if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) r.redirect.code = static_cast<int>(code);
          else errs.add(d["code"], "redirect code must be 301, 302, 303, 307 or 308");
        }
      }
    }
    if (actions != 1) errs.add(n, "route needs exactly one action: cluster, split, direct or redirect");
    if (n["prefix_rewrite"]) {
      std::string s;
      if (read_string(n["prefix_rewrite"], s, errs)) {
        if (s.empty() || s[0] != '/') errs.add(n["prefix_rewrite"], "prefix_rewrite must start with '/'");
        r.prefix_rewrite = s;
      }
      if (r.match.path_kind != RouteMatch::PathKind::kPrefix)
        errs.add(n["prefix_rewrite"], "prefix_rewrite needs a prefix match");
    }
    if (n["timeout"]) {
      milliseconds t{};
      if (read_timeout(n["timeout"], t, errs)) r.timeout = t;
    }
    if (n["retries"]) retries(n["retries"], r.retries);
  }

  void retries(const YAML::Node& n, RetryPolicy& p) {
    if (!check_keys(n, {"attempts", "on", "status_codes", "per_try_timeout", "backoff", "retry_non_idempotent", "budget",
                        "budget_min", "max_buffered_body"},
                    errs, "retries"))
      return;
    uint64_t v = 0;
    if (n["attempts"] && read_uint(n["attempts"], v, errs, 0, 10)) p.attempts = static_cast<uint32_t>(v);
    if (n["on"] && expect_sequence(n["on"], errs, "retries.on")) {
      for (const auto& c : n["on"]) {
        std::string s;
        if (!read_string(c, s, errs)) continue;
        if (s == "5xx") p.on_5xx = true;
        else if (s == "gateway-error") p.on_gateway_error = true;
        else if (s == "connect-failure") p.on_connect_failure = true;
        else if (s == "refused") p.on_refused = true;
        else if (s == "reset") p.on_reset = true;
        else if (s == "per-try-timeout") p.on_per_try_timeout = true;
        else if (s == "retriable-status-codes") {
        } else
          errs.add(c, "unknown retry condition '" + s +
                          "' (5xx, gateway-error, connect-failure, refused, reset, per-try-timeout, retriable-status-codes)");
      }
    }
    if (n["status_codes"] && expect_sequence(n["status_codes"], errs, "retries.status_codes")) {
      for (const auto& c : n["status_codes"])
        if (read_uint(c, v, errs, 100, 599)) p.status_codes.push_back(static_cast<int>(v));
    }
    if (n["per_try_timeout"]) {
      milliseconds t{};
      if (read_timeout(n["per_try_timeout"], t, errs)) p.per_try_timeout = t;
    }
    if (n["backoff"] && check_keys(n["backoff"], {"base", "max"}, errs, "retries.backoff")) {
      if (n["backoff"]["base"]) read_duration(n["backoff"]["base"], p.backoff_base, errs);
      if (n["backoff"]["max"]) read_duration(n["backoff"]["max"], p.backoff_max, errs);
      if (p.backoff_max < p.backoff_base) errs.add(n["backoff"], "backoff.max must not be below backoff.base");
    }
    if (n["retry_non_idempotent"]) read_bool(n["retry_non_idempotent"], p.retry_non_idempotent, errs);
    if (n["budget"]) read_percent(n["budget"], p.budget_percent, errs);
    if (n["budget_min"] && read_uint(n["budget_min"], v, errs, 0, 100000)) p.budget_min = static_cast<uint32_t>(v);
    if (n["max_buffered_body"]) read_size(n["max_buffered_body"], p.max_buffered_body, errs);
    if (p.attempts && !(p.on_5xx || p.on_gateway_error || p.on_connect_failure || p.on_refused || p.on_reset ||
                        p.on_per_try_timeout || !p.status_codes.empty()))
      errs.add(n, "retries needs at least one condition in 'on'");
  }

  void routes(const YAML::Node& list, std::vector<Route>& out) {
    if (!expect_sequence(list, errs, "routes")) return;
    out.reserve(list.size());
    for (const auto& n : list) {
      out.emplace_back();
      route(n, out.back());
    }
  }

  void vhost(const YAML::Node& n, VirtualHost& v) {
    if (!check_keys(n, {"name", "domains", "routes"}, errs, "virtual host")) return;
    if (n["name"]) read_string(n["name"], v.name, errs);
    if (n["domains"] && expect_sequence(n["domains"], errs, "domains")) {
      for (const auto& d : n["domains"]) {
        std::string s;
        if (!read_string(d, s, errs)) continue;
        for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        if (s != "*" && s.find('*') != std::string::npos && (s.rfind("*.", 0) != 0 || s.find('*', 1) != std::string::npos))
          errs.add(d, "wildcard domains look like *.example.com");
        v.domains.push_back(s);
      }
    } else if (!n["domains"]) {
      v.domains.push_back("*");
    }
    if (n["routes"]) routes(n["routes"], v.routes);
    else errs.add(n, "virtual host needs routes");
  }

  void limits(const YAML::Node& n, ListenerLimits& l) {
    if (!check_keys(n, {"max_request_line", "max_head", "max_headers", "max_connections", "buffer_size"}, errs,
                    "limits"))
      return;
    uint64_t v = 0;
    if (n["max_request_line"] && read_size(n["max_request_line"], v, errs)) l.h1.max_request_line = v;
    if (n["max_head"] && read_size(n["max_head"], v, errs)) l.h1.max_head_bytes = v;
    if (n["max_headers"] && read_uint(n["max_headers"], v, errs, 1, 10000)) l.h1.max_headers = v;
    if (n["max_connections"] && read_uint(n["max_connections"], v, errs, 1, 1000000)) l.max_connections = v;
    if (n["buffer_size"] && read_size(n["buffer_size"], v, errs)) {
      if (v < 4096 || v > 16 * 1024 * 1024) errs.add(n["buffer_size"], "buffer_size must be between 4KiB and 16MiB");
      else l.buffer_size = v;
    }
    if (l.h1.max_head_bytes > l.buffer_size)
      errs.add(n, "max_head must not exceed buffer_size (" + std::to_string(l.buffer_size) + " bytes)");
  }

  void timeouts(const YAML::Node& n, ListenerTimeouts& t) {
    if (!check_keys(n, {"header_read", "idle", "request", "defer_accept", "tunnel_idle"}, errs, "timeouts")) return;
    if (n["tunnel_idle"]) {
      read_duration(n["tunnel_idle"], t.tunnel_idle, errs);
      if (t.tunnel_idle < std::chrono::seconds(1)) errs.add(n["tunnel_idle"], "tunnel_idle must be at least 1s");
    }
    if (n["header_read"]) read_timeout(n["header_read"], t.header_read, errs);
    if (n["idle"]) read_timeout(n["idle"], t.idle, errs);
    if (n["request"]) read_timeout(n["request"], t.request, errs);
    if (n["defer_accept"]) {
      read_duration(n["defer_accept"], t.defer_accept, errs);
      if (t.defer_accept > std::chrono::minutes(10)) errs.add(n["defer_accept"], "defer_accept must be at most 10m");
    }
  }

  void listener(const YAML::Node& n, Listener& l) {
    if (!check_keys(n, {"name", "address", "protocol", "routes", "virtual_hosts", "limits", "timeouts", "server_timing", "normalize_path",
                        "splice", "tls", "http2", "proxy_protocol"},
                    errs, "listener"))
      return;
    if (n["name"]) read_string(n["name"], l.name, errs);
    else errs.add(n, "listener needs a name");
    if (n["address"]) read_address(n["address"], l.address, errs);
    else errs.add(n, "listener needs an address");
    if (n["protocol"]) {
      read_string(n["protocol"], l.protocol, errs);
      if (l.protocol != "http") errs.add(n["protocol"], "unsupported listener protocol '" + l.protocol + "' (supported: http)");
    }
    if (n["limits"]) limits(n["limits"], l.limits);
    if (n["timeouts"]) timeouts(n["timeouts"], l.timeouts);
    if (n["server_timing"]) read_bool(n["server_timing"], l.server_timing, errs);
    if (n["normalize_path"]) read_bool(n["normalize_path"], l.normalize_path, errs);
    if (n["splice"]) read_bool(n["splice"], l.splice, errs);
    if (n["tls"]) parse_listener_tls(n["tls"], base_dir, l.tls.emplace(), errs);
    if (n["proxy_protocol"]) {
      read_bool(n["proxy_protocol"], l.proxy_protocol, errs);
    }
    if (n["http2"]) parse_listener_http2(n["http2"], l.http2, errs);
    if (n["routes"] && n["virtual_hosts"]) errs.add(n, "listener takes routes or virtual_hosts, not both");
    if (n["routes"]) {
      l.vhosts.emplace_back();
      l.vhosts.back().name = "default";
      l.vhosts.back().domains = {"*"};
      routes(n["routes"], l.vhosts.back().routes);
    } else if (n["virtual_hosts"] && expect_sequence(n["virtual_hosts"], errs, "virtual_hosts")) {
      for (const auto& v : n["virtual_hosts"]) {
        l.vhosts.emplace_back();
        vhost(v, l.vhosts.back());
      }
    } else if (!n["virtual_hosts"]) {
      errs.add(n, "listener needs routes or virtual_hosts");
    }
  }

  void host(const YAML::Node& n, HostConfig& h) {
    const YAML::Node* addr = &n;
    YAML::Node a;
    if (n.IsMap()) {
      if (!check_keys(n, {"address", "weight"}, errs, "host")) return;
      uint64_t w = 1;
      if (n["weight"] && read_uint(n["weight"], w, errs, 1, 10000)) h.weight = static_cast<uint32_t>(w);
      a = n["address"];
      if (!a) {
        errs.add(n, "host needs an address");
        return;
      }
      addr = &a;
    }
    std::string text, name;
    uint16_t port = 0;
    if (addr->IsScalar()) text = addr->Scalar();
    if (!text.empty() && !core::Address::parse(text) && core::split_host_port(text, name, port) && valid_dns_name(name)) {
      // A name: resolved by the control thread (c-ares), re-resolved when its TTL runs out.
      h.dns_name = name;
      h.port = port;
      h.address_text = text;
      if (port == 0) errs.add(*addr, "upstream port 0: nothing can be reached there");
      return;
    }
    if (read_address(*addr, h.address, errs)) {
      h.address_text = text;
      if (h.address.port() == 0) errs.add(*addr, "upstream port 0: nothing can be reached there");
    }
  }

  static bool valid_dns_name(const std::string& n) {
    if (n.empty() || n.size() > 253) return false;
    bool has_alpha = false;
    size_t label = 0;
    for (char c : n) {
      if (c == '.') {
        if (label == 0) return false;
        label = 0;
        continue;
      }
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
      has_alpha |= isalpha(static_cast<unsigned char>(c)) != 0;
      if (++label > 63) return false;
    }
    return has_alpha;  // all digits and dots is a (bad) IPv4 address, not a name
  }

  void outlier(const YAML::Node& n, OutlierConfig& o) {
    if (!check_keys(n, {"consecutive_5xx", "consecutive_gateway_failure", "consecutive_local_origin_failure",
                        "base_ejection", "max_ejection", "max_ejection_percent"},
                    errs, "outlier"))
      return;
    o.enabled = true;
    uint64_t v = 0;
    if (n["consecutive_local_origin_failure"] && read_uint(n["consecutive_local_origin_failure"], v, errs, 0, 1000))
      o.consecutive_local_origin_failure = static_cast<uint32_t>(v);
    if (n["consecutive_5xx"] && read_uint(n["consecutive_5xx"], v, errs, 1, 1000)) o.consecutive_5xx = static_cast<uint32_t>(v);
    if (n["consecutive_gateway_failure"] && read_uint(n["consecutive_gateway_failure"], v, errs, 1, 1000))
      o.consecutive_gateway_failure = static_cast<uint32_t>(v);
    if (n["base_ejection"]) read_duration(n["base_ejection"], o.base_ejection, errs);
    if (n["max_ejection"]) read_duration(n["max_ejection"], o.max_ejection, errs);
    if (n["max_ejection_percent"]) read_percent(n["max_ejection_percent"], o.max_ejection_percent, errs);
  }

  void breakers(const YAML::Node& n, CircuitBreakers& b) {
    if (!check_keys(n, {"max_connections", "max_pending", "max_requests", "max_retries"}, errs, "circuit_breakers"))
      return;
    if (n["max_connections"]) read_uint(n["max_connections"], b.max_connections, errs, 0, 10000000);  // 0 = unlimited
    if (n["max_pending"]) read_uint(n["max_pending"], b.max_pending, errs, 0, 10000000);
    if (n["max_requests"]) read_uint(n["max_requests"], b.max_requests, errs, 0, 10000000);
    if (n["max_retries"]) read_uint(n["max_retries"], b.max_retries, errs, 0, 10000000);
  }

  void pool(const YAML::Node& n, PoolConfig& p) {
    if (!check_keys(n, {"max_connections", "max_pending", "idle_timeout", "max_requests_per_connection"}, errs, "pool"))
      return;
    if (n["max_connections"]) read_uint(n["max_connections"], p.max_connections, errs, 1, 1000000);
    if (n["max_pending"]) read_uint(n["max_pending"], p.max_pending, errs, 0, 1000000);
    if (n["idle_timeout"]) read_timeout(n["idle_timeout"], p.idle_timeout, errs);
    if (n["max_requests_per_connection"]) read_uint(n["max_requests_per_connection"], p.max_requests_per_connection, errs);
  }

  void cluster(const YAML::Node& n, ClusterConfig& c) {
    if (!check_keys(n, {"name", "lb", "hash_on", "hosts", "pool", "connect_timeout", "health_check", "outlier",
                        "circuit_breakers", "panic_threshold", "protocol", "tls", "http2"},
                    errs, "cluster"))
      return;
    if (n["outlier"]) outlier(n["outlier"], c.outlier);
    if (n["circuit_breakers"]) breakers(n["circuit_breakers"], c.breakers);
    if (n["panic_threshold"]) read_percent(n["panic_threshold"], c.panic_threshold, errs);
    if (n["name"]) read_string(n["name"], c.name, errs);
    else errs.add(n, "cluster needs a name");
    if (n["lb"]) {
      std::string lb;
      if (read_string(n["lb"], lb, errs)) {
        if (lb == "round_robin") c.lb = LbPolicy::kRoundRobin;
        else if (lb == "least_request") c.lb = LbPolicy::kLeastRequest;
        else if (lb == "random") c.lb = LbPolicy::kRandom;
        else if (lb == "maglev") c.lb = LbPolicy::kMaglev;
        else errs.add(n["lb"], "unknown lb '" + lb + "' (round_robin, least_request, random, maglev)");
      }
    }
    if (n["hash_on"]) {
      std::string h;
      if (read_string(n["hash_on"], h, errs)) {
        if (h == "client_ip") c.hash_on = {HashOn::Kind::kClientIp, ""};
        else if (h.rfind("header:", 0) == 0 && h.size() > 7) c.hash_on = {HashOn::Kind::kHeader, h.substr(7)};
        else if (h.rfind("cookie:", 0) == 0 && h.size() > 7) c.hash_on = {HashOn::Kind::kCookie, h.substr(7)};
        else errs.add(n["hash_on"], "hash_on is client_ip, header:NAME or cookie:NAME");
      }
      if (c.lb != LbPolicy::kMaglev) errs.add(n["hash_on"], "hash_on needs lb: maglev");
    }
    if (n["hosts"] && expect_sequence(n["hosts"], errs, "hosts")) {
      std::set<std::string> seen;
      for (const auto& h : n["hosts"]) {
        HostConfig hc;
        host(h, hc);
        if (!hc.address_text.empty() &&
            !seen.insert(hc.dns_name.empty() ? hc.address.to_string() : hc.address_text).second)
          errs.add(h, "duplicate host " + hc.address_text + " in cluster " + c.name);
        c.hosts.push_back(hc);
      }
      if (n["hosts"].size() == 0) errs.add(n["hosts"], "cluster needs at least one host");
    } else if (!n["hosts"]) {
      errs.add(n, "cluster needs hosts");
    }
    parse_cluster_transport(n, base_dir, c, errs);
    if (n["pool"]) pool(n["pool"], c.pool);
    if (n["connect_timeout"]) read_timeout(n["connect_timeout"], c.pool.connect_timeout, errs);
    if (n["health_check"]) {
      health::CheckSpec spec;
      if (health::parse_check_spec(n["health_check"], spec, errs)) c.health_check = spec;
    }
  }
};

void resolve_cluster_refs(const YAML::Node& root, Config& cfg, ConfigErrors& errs) {
  // Second pass over the YAML so errors point at the route's cluster name.
  const auto& ls = root["listeners"];
  if (!ls || !ls.IsSequence()) return;
  size_t li = 0;
  for (const auto& ln : ls) {
    if (li >= cfg.listeners.size()) break;
    Listener& l = cfg.listeners[li++];
    std::vector<YAML::Node> route_lists;
    if (ln.IsMap() && ln["routes"]) route_lists.push_back(ln["routes"]);
    else if (ln.IsMap() && ln["virtual_hosts"] && ln["virtual_hosts"].IsSequence())
      for (const auto& v : ln["virtual_hosts"]) route_lists.push_back(v.IsMap() ? v["routes"] : YAML::Node());
    for (size_t vi = 0; vi < l.vhosts.size() && vi < route_lists.size(); ++vi) {
      const auto& rl = route_lists[vi];
      if (!rl || !rl.IsSequence()) continue;
      for (size_t ri = 0; ri < l.vhosts[vi].routes.size() && ri < rl.size(); ++ri) {
        Route& r = l.vhosts[vi].routes[ri];
        const YAML::Node rn = rl[ri];
        for (size_t ci = 0; ci < r.clusters.size(); ++ci) {
          auto& wc = r.clusters[ci];
          YAML::Node at = rn["cluster"] ? rn["cluster"] : rn["split"];
          bool found = false;
          for (size_t k = 0; k < cfg.clusters.size(); ++k) {
            if (cfg.clusters[k].name == wc.name) {
              wc.cluster_index = k;
              found = true;
            }
          }
          if (!found) errs.add(at, "route refers to unknown cluster '" + wc.name + "'");
        }
      }
    }
  }
}

}  // namespace

std::shared_ptr<const Config> load_config_text(const std::string& text, const std::string& source,
                                               const std::filesystem::path& base_dir, ConfigErrors& errs) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errs.add(e.mark, e.msg);
    return nullptr;
  }
  auto cfg = std::make_shared<Config>();
  cfg->source = source;
  cfg->text = text;
  if (!root || root.IsNull()) {
    errs.add_global("configuration is empty");
    return nullptr;
  }
  Reader rd{errs, *cfg, base_dir};
  if (!check_keys(root,
                  {"workers", "admin", "drain_timeout", "access_log", "listeners", "clusters", "backends", "dns", "resolver"},
                  errs, "the configuration"))
    return nullptr;
  uint64_t w = 0;
  if (root["workers"] && read_uint(root["workers"], w, errs, 0, 256)) cfg->workers = static_cast<unsigned>(w);
  if (root["admin"]) {
    core::Address a;
    if (read_address(root["admin"], a, errs)) cfg->admin = a;
  }
  if (root["drain_timeout"]) read_duration(root["drain_timeout"], cfg->drain_timeout, errs);
  if (root["access_log"]) {
    if (read_string(root["access_log"], cfg->access_log.path, errs)) {
      auto& p = cfg->access_log.path;
      if (p == "off") p.clear();
      else if (p != "stdout" && p != "stderr" && std::filesystem::path(p).is_relative()) p = (base_dir / p).string();
    }
  }
  std::set<std::string> names;
  if (root["clusters"] && expect_sequence(root["clusters"], errs, "clusters")) {
    for (const auto& n : root["clusters"]) {
      cfg->clusters.emplace_back();
      rd.cluster(n, cfg->clusters.back());
      const auto& name = cfg->clusters.back().name;
      if (!name.empty() && !names.insert(name).second) errs.add(n["name"], "duplicate cluster name '" + name + "'");
    }
  }
  std::set<std::string> lnames, laddrs;
  if (root["listeners"] && expect_sequence(root["listeners"], errs, "listeners")) {
    for (const auto& n : root["listeners"]) {
      cfg->listeners.emplace_back();
      rd.listener(n, cfg->listeners.back());
      const auto& l = cfg->listeners.back();
      if (!l.name.empty() && !lnames.insert(l.name).second) errs.add(n["name"], "duplicate listener name '" + l.name + "'");
      if (l.address.len && !laddrs.insert(l.address.to_string()).second)
        errs.add(n["address"], "address " + l.address.to_string() + " is used by another listener");
    }
  }
  if (root["backends"] && expect_sequence(root["backends"], errs, "backends")) {
    for (const auto& n : root["backends"]) {
      if (!check_keys(n, {"name", "address", "fail_status"}, errs, "backend")) continue;
      BuiltinBackend b;
      if (n["name"]) read_string(n["name"], b.name, errs);
      uint64_t st = 0;
      if (n["fail_status"] && read_uint(n["fail_status"], st, errs, 200, 599)) b.fail_status = static_cast<int>(st);
      if (n["address"]) read_address(n["address"], b.address, errs);
      else errs.add(n, "backend needs an address");
      if (b.address.len && !laddrs.insert(b.address.to_string()).second)
        errs.add(n["address"], "address " + b.address.to_string() + " is used by another listener");
      cfg->backends.push_back(b);
    }
  }
  if (cfg->admin && !laddrs.insert(cfg->admin->to_string()).second)
    errs.add(root["admin"], "admin address is used by a listener");
  if (root["dns"]) cfg->dns = parse_dns_section(root["dns"], base_dir, errs, *cfg);
  if (cfg->dns) check_dns_addresses(root["dns"], *cfg->dns, laddrs, errs);
  if (root["resolver"]) dns::parse_resolver_options(root["resolver"], cfg->resolver, errs);
  resolve_cluster_refs(root, *cfg, errs);
  if (cfg->listeners.empty() && !cfg->dns && cfg->backends.empty())
    errs.add_global("nothing to serve: no listeners, backends or dns");
  if (!errs.empty()) return nullptr;
  return cfg;
}

std::shared_ptr<const Config> load_config_file(const std::filesystem::path& path, ConfigErrors& errs) {
  std::ifstream in(path);
  if (!in) {
    errs.add_global("cannot read configuration file: " + std::string(strerror(errno)));
    return nullptr;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto base = std::filesystem::absolute(path).parent_path();
  return load_config_text(ss.str(), path.string(), base, errs);
}

const ClusterConfig* Config::find_cluster(std::string_view name) const {
  for (const auto& c : clusters)
    if (c.name == name) return &c;
  return nullptr;
}

std::string Config::summary() const {
  size_t hosts = 0, routes = 0;
  for (const auto& c : clusters) hosts += c.hosts.size();
  for (const auto& l : listeners)
    for (const auto& v : l.vhosts) routes += v.routes.size();
  std::string s = std::to_string(listeners.size()) + " listeners, " + std::to_string(routes) + " routes, " +
                  std::to_string(clusters.size()) + " clusters, " + std::to_string(hosts) + " hosts";
  if (!backends.empty()) s += ", " + std::to_string(backends.size()) + " built-in backends";
  if (dns) s += ", dns";
  return s;
}

const char* to_string(LbPolicy p) {
  switch (p) {
    case LbPolicy::kRoundRobin: return "round_robin";
    case LbPolicy::kLeastRequest: return "least_request";
    case LbPolicy::kRandom: return "random";
    case LbPolicy::kMaglev: return "maglev";
  }
  return "?";
}

const char* to_string(UpstreamProtocol p) {
  switch (p) {
    case UpstreamProtocol::kHttp1: return "h1";
    case UpstreamProtocol::kHttp2: return "h2";
    case UpstreamProtocol::kH2c: return "h2c";
    case UpstreamProtocol::kAuto: return "auto";
  }
  return "?";
}

}  // namespace hop::config
