#include "config/dns_section.h"

namespace hop::config {

std::shared_ptr<const dns::DnsConfig> parse_dns_section(const YAML::Node& section, const std::filesystem::path&,
                                                        ConfigErrors& errs, const LoadContext&, const Config&) {
  errs.add(section, "dns is not available in this build yet");
  return nullptr;
}

}  // namespace hop::config
