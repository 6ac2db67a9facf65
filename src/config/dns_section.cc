#include "config/dns_section.h"

#include "core/event_loop.h"
#include "dns/dns_config.h"
#include "health/health_checker.h"

namespace hop::config {

std::shared_ptr<const dns::DnsConfig> parse_dns_section(const YAML::Node& section, const std::filesystem::path& base_dir,
                                                        ConfigErrors& errs, const LoadContext& ctx, const Config& cfg) {
  // Callers without a checker (unit tests) get one whose loop never runs: checks are
  // validated and their states created, but nothing is probed.
  static core::EventLoop idle_loop;
  static health::HealthChecker idle_checker(idle_loop);
  health::HealthChecker* checker = ctx.checker ? ctx.checker : &idle_checker;

  dns::DnsBindings bindings;
  bindings.checker = checker;
  bindings.cluster_health = [&cfg, checker](std::string_view name) -> std::function<bool()> {
    const ClusterConfig* c = cfg.find_cluster(name);
    if (!c) return {};
    if (!c->health_check) return [] { return true; };
    // The same (host, check) pairs the cluster's snapshot watches: one probe serves both.
    std::vector<std::shared_ptr<health::HealthState>> states;
    for (const auto& h : c->hosts) states.push_back(checker->watch(h.address, *c->health_check));
    return [states] {
      for (const auto& s : states)
        if (s->healthy()) return true;
      return false;
    };
  };
  // Hosts given by name have no address until the resolver answers, and their addresses
  // change: the load-time probes behind a record cannot follow them. Said, not guessed.
  bindings.cluster_unusable = [&cfg](std::string_view name) -> std::string {
    const ClusterConfig* c = cfg.find_cluster(name);
    if (!c || !c->health_check) return {};
    for (const auto& h : c->hosts)
      if (!h.dns_name.empty())
        return "cluster '" + std::string(name) + "' has a host given by name (" + h.dns_name +
               "); a DNS record's health needs clusters of IP hosts";
    return {};
  };
  return dns::parse_dns_config(section, base_dir, errs, bindings);
}

void check_dns_addresses(const YAML::Node& section, const dns::DnsConfig& dns, const std::set<std::string>& taken,
                         ConfigErrors& errs) {
  for (const auto& a : dns.listen)
    if (a.port() != 0 && taken.count(a.to_string()))
      errs.add(section["listen"] ? section["listen"] : section,
               "dns address " + a.to_string() + " is used by a listener, backend or the admin");
}

}  // namespace hop::config
