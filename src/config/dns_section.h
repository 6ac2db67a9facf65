// The `dns:` section belongs to the dns subsystem; this shim tells it which clusters a
// record's `cluster:` may name.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "config/base/errors.h"
#include "config/config.h"
#include "dns/dns_config.h"

namespace hop::config {

std::shared_ptr<const dns::DnsConfig> parse_dns_section(const YAML::Node& section, const std::filesystem::path& base_dir,
                                                        ConfigErrors& errs, const Config& cfg);

// DNS listens on TCP too, with SO_REUSEPORT like every hop socket: an HTTP listener,
// backend or admin on the same address (`taken`) would silently split connections with it.
void check_dns_addresses(const YAML::Node& section, const dns::DnsConfig& dns, const std::set<std::string>& taken,
                         ConfigErrors& errs);

}  // namespace hop::config
