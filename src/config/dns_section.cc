#include "config/dns_section.h"

namespace hop::config {

std::shared_ptr<const dns::DnsConfig> parse_dns_section(const YAML::Node& section, const std::filesystem::path& base_dir,
                                                        ConfigErrors& errs, const Config& cfg) {
  dns::ClusterLookup clusters;
  clusters.exists = [&cfg](std::string_view name) { return cfg.find_cluster(name) != nullptr; };
  // Hosts given by name have no address until the resolver answers, and their addresses
  // change: the probes behind a record, bound to addresses, cannot follow them. Said, not guessed.
  clusters.unusable = [&cfg](std::string_view name) -> std::string {
    const ClusterConfig* c = cfg.find_cluster(name);
    if (!c || !c->health_check) return {};
    for (const auto& h : c->hosts)
      if (!h.dns_name.empty())
        return "cluster '" + std::string(name) + "' has a host given by name (" + h.dns_name +
               "); a DNS record's health needs clusters of IP hosts";
    return {};
  };
  return dns::parse_dns_config(section, base_dir, errs, clusters);
}

void check_dns_addresses(const YAML::Node& section, const dns::DnsConfig& dns, const std::set<std::string>& taken,
                         ConfigErrors& errs) {
  for (const auto& a : dns.listen)
    if (a.port() != 0 && taken.count(a.to_string()))
      errs.add(section["listen"] ? section["listen"] : section,
               "dns address " + a.to_string() + " is used by a listener, backend or the admin");
}

}  // namespace hop::config
