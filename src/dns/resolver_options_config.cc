#include "config/base/yaml_reader.h"
#include "dns/resolver_options.h"

namespace hop::dns {

bool parse_resolver_options(const YAML::Node& node, ResolverOptions& out, config::ConfigErrors& errs) {
  size_t before = errs.all().size();
  if (!config::check_keys(node, {"servers", "min_ttl", "max_ttl", "negative_ttl", "timeout", "ready_wait"}, errs, "resolver"))
    return false;
  if (const auto& s = node["servers"]) {
    if (config::expect_sequence(s, errs, "resolver.servers")) {
      for (const auto& a : s) {
        core::Address addr;
        if (config::read_address(a, addr, errs)) out.servers.push_back(addr);
      }
    }
  }
  if (node["min_ttl"]) config::read_duration(node["min_ttl"], out.min_ttl, errs);
  if (node["max_ttl"]) config::read_duration(node["max_ttl"], out.max_ttl, errs);
  if (node["negative_ttl"]) config::read_duration(node["negative_ttl"], out.negative_ttl, errs);
  if (node["timeout"] && config::read_timeout(node["timeout"], out.timeout, errs) && out.timeout > std::chrono::minutes(10))
    errs.add(node["timeout"], "timeout must be at most 10m");  // c-ares takes it as an int of ms
  if (node["ready_wait"]) config::read_duration(node["ready_wait"], out.ready_wait, errs);
  // A zero floor would let a TTL-0 answer re-query in a tight loop.
  if (out.min_ttl.count() < 100) errs.add(node["min_ttl"] ? node["min_ttl"] : node, "min_ttl must be at least 100ms");
  if (out.max_ttl < out.min_ttl) errs.add(node["max_ttl"] ? node["max_ttl"] : node, "max_ttl must be at least min_ttl");
  if (out.negative_ttl.count() < 100)
    errs.add(node["negative_ttl"] ? node["negative_ttl"] : node, "negative_ttl must be at least 100ms");
  if (out.timeout.count() < 10) errs.add(node["timeout"] ? node["timeout"] : node, "timeout must be at least 10ms");
  return errs.all().size() == before;
}

}  // namespace hop::dns
