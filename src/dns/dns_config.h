// The `dns:` section of hop's config, parsed once into an immutable snapshot that every
// worker reads. See docs/dns.md for the keys.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "config/base/errors.h"
#include "core/socket.h"
#include "dns/geo_table.h"
#include "dns/zone.h"
#include "health/health_checker.h"

namespace hop::dns {

struct DnsBindings {
  health::HealthChecker* checker;  // always non-null; `hop check` simply never runs its loop
  // Returns a predicate "is cluster NAME healthy (any healthy host)" or an empty function if
  // no such cluster.
  std::function<std::function<bool()>(std::string_view cluster)> cluster_health;
  // Why a cluster that exists cannot drive a record's health ("" = it can); optional.
  std::function<std::string(std::string_view cluster)> cluster_unusable = nullptr;
};

struct DnsConfig {
  std::vector<core::Address> listen;
  uint16_t udp_payload = 1232;  // DNS flag day 2020: avoids IP fragmentation on common paths
  bool query_log = false;
  std::chrono::milliseconds tcp_idle_timeout{10000};  // RFC 7766 §6.2.3 suggests seconds, not minutes
  uint32_t tcp_max_connections = 1024;                // per worker
  uint32_t tcp_max_pipelined = 64;  // queries a TCP connection answers per pump() before it yields
  GeoTable geo;
  std::vector<Zone> zones;  // longest origin first, so the most specific zone wins
  std::vector<std::shared_ptr<health::HealthState>> health;  // held so probes keep running

  const Zone* find_zone(std::string_view name) const {
    for (const auto& z : zones)
      if (z.contains(name)) return &z;
    return nullptr;
  }
};

std::shared_ptr<const DnsConfig> parse_dns_config(const YAML::Node& section, const std::filesystem::path& config_dir,
                                                  config::ConfigErrors& errs, const DnsBindings& bindings);

std::vector<core::Address> listen_addresses(const DnsConfig& cfg);

}  // namespace hop::dns
