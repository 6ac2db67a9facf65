#include <charconv>

#include "config/base/yaml_reader.h"
#include "health/check_spec.h"

namespace hop::health {

namespace {

bool parse_status_range(const YAML::Node& n, std::pair<int, int>& out, config::ConfigErrors& errs) {
  if (n.IsScalar()) {
    std::string_view s = n.Scalar();
    auto dash = s.find('-');
    std::string_view lo = s.substr(0, dash), hi = dash == std::string_view::npos ? lo : s.substr(dash + 1);
    int a = 0, b = 0;
    auto r1 = std::from_chars(lo.data(), lo.data() + lo.size(), a);
    auto r2 = std::from_chars(hi.data(), hi.data() + hi.size(), b);
    if (r1.ec == std::errc() && r1.ptr == lo.data() + lo.size() && r2.ec == std::errc() &&
        r2.ptr == hi.data() + hi.size() && a >= 100 && b <= 599 && a <= b) {
      out = {a, b};
      return true;
    }
  }
  errs.add(n, "expected a status such as 200 or a range such as \"200-299\"");
  return false;
}

bool parse_http(const YAML::Node& n, CheckSpec& out, config::ConfigErrors& errs) {
  out.kind = CheckSpec::Kind::kHttp;
  if (n.IsScalar()) return config::read_string(n, out.path, errs);
  size_t errors_before = errs.all().size();
  if (!config::check_keys(n, {"path", "method", "host", "expect"}, errs, "health_check.http")) return false;
  bool ok = errs.all().size() == errors_before;
  if (n["path"]) ok &= config::read_string(n["path"], out.path, errs);
  if (n["method"]) ok &= config::read_string(n["method"], out.method, errs);
  if (n["host"]) ok &= config::read_string(n["host"], out.host, errs);
  if (const auto& e = n["expect"]) {
    out.expected_statuses.clear();
    if (e.IsSequence()) {
      for (const auto& item : e) {
        std::pair<int, int> r;
        if (parse_status_range(item, r, errs)) out.expected_statuses.push_back(r); else ok = false;
      }
    } else {
      std::pair<int, int> r;
      if (parse_status_range(e, r, errs)) out.expected_statuses.push_back(r); else ok = false;
    }
    if (out.expected_statuses.empty()) {
      errs.add(e, "expect needs at least one status");
      ok = false;
    }
  }
  // The request line is written verbatim: a CR, LF or space would let config inject headers.
  auto clean = [](const std::string& s) { return s.find_first_of(" \r\n") == std::string::npos; };
  if (out.path.empty() || out.path[0] != '/' || !clean(out.path)) {
    errs.add(n, "http path must start with / and contain no spaces");
    ok = false;
  }
  if (out.method.empty() || !clean(out.method) || !clean(out.host)) {
    errs.add(n, "http method and host must not contain spaces or line breaks");
    ok = false;
  }
  return ok;
}

}  // namespace

bool parse_check_spec(const YAML::Node& node, CheckSpec& out, config::ConfigErrors& errs) {
  size_t errors_before = errs.all().size();
  if (!config::check_keys(node, {"http", "tcp", "interval", "timeout", "jitter", "unhealthy", "healthy"}, errs,
                          "health_check"))
    return false;
  bool ok = errs.all().size() == errors_before;
  if (node["http"] && node["tcp"]) {
    errs.add(node, "health_check takes either http or tcp, not both");
    ok = false;
  }
  if (const auto& h = node["http"]) ok &= parse_http(h, out, errs);
  if (const auto& t = node["tcp"]) {
    bool on = false;
    if (config::read_bool(t, on, errs)) {
      if (on) out.kind = CheckSpec::Kind::kTcp;
    } else {
      ok = false;
    }
  }
  if (node["interval"]) ok &= config::read_duration(node["interval"], out.interval, errs);
  if (node["timeout"]) ok &= config::read_duration(node["timeout"], out.timeout, errs);
  if (out.interval.count() < 10) {
    errs.add(node["interval"] ? node["interval"] : node, "interval must be at least 10ms");
    ok = false;
  }
  if (out.timeout.count() < 1) {
    errs.add(node["timeout"] ? node["timeout"] : node, "timeout must be at least 1ms");
    ok = false;
  }
  if (node["jitter"]) {
    double pct = 0;
    if (config::read_percent(node["jitter"], pct, errs)) out.jitter = pct / 100.0; else ok = false;
  }
  uint64_t v = 0;
  if (node["unhealthy"]) {
    if (config::read_uint(node["unhealthy"], v, errs, 1, 1000)) out.unhealthy_threshold = uint32_t(v); else ok = false;
  }
  if (node["healthy"]) {
    if (config::read_uint(node["healthy"], v, errs, 1, 1000)) out.healthy_threshold = uint32_t(v); else ok = false;
  }
  return ok;
}

std::string CheckSpec::describe() const {
  if (kind == Kind::kTcp) return "tcp every " + std::to_string(interval.count()) + "ms";
  return "http " + method + " " + path + " every " + std::to_string(interval.count()) + "ms";
}

}  // namespace hop::health
