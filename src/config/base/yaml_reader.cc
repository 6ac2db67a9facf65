#include "config/base/yaml_reader.h"

#include <charconv>
#include <cmath>

namespace hop::config {

namespace {
std::string kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "empty";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    default: return "undefined";
  }
}
}  // namespace

bool expect_map(const YAML::Node& n, ConfigErrors& errs, std::string_view what) {
  if (n.IsMap()) return true;
  errs.add(n, std::string(what) + " must be a map, got " + kind_of(n));
  return false;
}

bool expect_sequence(const YAML::Node& n, ConfigErrors& errs, std::string_view what) {
  if (n.IsSequence()) return true;
  errs.add(n, std::string(what) + " must be a list, got " + kind_of(n));
  return false;
}

bool check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed, ConfigErrors& errs,
                std::string_view what) {
  if (!expect_map(map, errs, what)) return false;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    bool known = false;
    for (auto a : allowed) known |= (a == key);
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      errs.add(it->first, "unknown key '" + key + "' in " + std::string(what) + " (expected one of: " + list + ")");
    }
  }
  return true;
}

bool read_string(const YAML::Node& n, std::string& out, ConfigErrors& errs) {
  if (!n.IsScalar()) {
    errs.add(n, "expected a string, got " + kind_of(n));
    return false;
  }
  out = n.Scalar();
  return true;
}

bool read_bool(const YAML::Node& n, bool& out, ConfigErrors& errs) {
  if (n.IsScalar()) {
    const auto& s = n.Scalar();
    if (s == "true" || s == "yes" || s == "on") return out = true, true;
    if (s == "false" || s == "no" || s == "off") return out = false, true;
  }
  errs.add(n, "expected true or false, got " + kind_of(n));
  return false;
}

bool read_uint(const YAML::Node& n, uint64_t& out, ConfigErrors& errs, uint64_t min, uint64_t max) {
  if (n.IsScalar()) {
    const auto& s = n.Scalar();
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) {
      if (v < min || v > max) {
        errs.add(n, "value " + s + " out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
        return false;
      }
      out = v;
      return true;
    }
  }
  errs.add(n, "expected a non-negative integer, got " + kind_of(n));
  return false;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0 || i == s.size()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, v);
  if (ec != std::errc() || p != s.data() + i) return std::nullopt;
  std::string_view unit = s.substr(i);
  double ms;
  if (unit == "ms") ms = v;
  else if (unit == "s") ms = v * 1000;
  else if (unit == "m") ms = v * 60000;
  else if (unit == "h") ms = v * 3600000;
  else return std::nullopt;
  if (ms > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

bool read_duration(const YAML::Node& n, std::chrono::milliseconds& out, ConfigErrors& errs) {
  if (n.IsScalar()) {
    if (auto d = parse_duration(n.Scalar())) return out = *d, true;
  }
  errs.add(n, "expected a duration such as 250ms, 1s, 5m, got " + kind_of(n));
  return false;
}

bool read_timeout(const YAML::Node& n, std::chrono::milliseconds& out, ConfigErrors& errs) {
  std::chrono::milliseconds d{};
  if (!read_duration(n, d, errs)) return false;
  if (d.count() <= 0) {
    errs.add(n, "a timeout must be more than 0 (0 would expire at once)");
    return false;
  }
  out = d;
  return true;
}

std::optional<uint64_t> parse_size(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, v);
  if (ec != std::errc()) return std::nullopt;
  std::string_view unit = s.substr(i);
  uint64_t mul;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "KiB") mul = 1024;
  else if (unit == "MiB") mul = 1024 * 1024;
  else if (unit == "GiB") mul = 1024ull * 1024 * 1024;
  else if (unit == "KB") mul = 1000;
  else if (unit == "MB") mul = 1000 * 1000;
  else if (unit == "GB") mul = 1000ull * 1000 * 1000;
  else return std::nullopt;
  if (v > UINT64_MAX / mul) return std::nullopt;
  return v * mul;
}

bool read_size(const YAML::Node& n, uint64_t& out, ConfigErrors& errs) {
  if (n.IsScalar()) {
    if (auto v = parse_size(n.Scalar())) return out = *v, true;
  }
  errs.add(n, "expected a size such as 512, 64KiB, 1MiB, got " + kind_of(n));
  return false;
}

bool read_percent(const YAML::Node& n, double& out, ConfigErrors& errs) {
  if (n.IsScalar()) {
    std::string s = n.Scalar();
    if (!s.empty() && s.back() == '%') s.pop_back();
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty() && v >= 0 && v <= 100) return out = v, true;
  }
  errs.add(n, "expected a percentage between 0% and 100%, got " + kind_of(n));
  return false;
}

bool read_address(const YAML::Node& n, core::Address& out, ConfigErrors& errs) {
  if (n.IsScalar()) {
    if (auto a = core::Address::parse(n.Scalar())) return out = *a, true;
  }
  errs.add(n, "expected an address IP:PORT (IPv6 as [::1]:PORT), got " + kind_of(n));
  return false;
}

}  // namespace hop::config
