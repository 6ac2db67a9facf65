// The `dns:` section belongs to the dns subsystem; this shim hands it the bindings it needs
// from the rest of the configuration (the health checker, cluster health).
#pragma once

#include <filesystem>
#include <memory>

#include "config/base/errors.h"
#include "config/config.h"
#include "config/loader.h"

namespace hop::config {

std::shared_ptr<const dns::DnsConfig> parse_dns_section(const YAML::Node& section, const std::filesystem::path& base_dir,
                                                        ConfigErrors& errs, const LoadContext& ctx, const Config& cfg);

}  // namespace hop::config
