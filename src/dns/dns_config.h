// The `dns:` section of hop's config, parsed once into an immutable snapshot that every
// worker reads. See docs/dns.md for the keys.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/errors.h"
#include "core/socket.h"
#include "dns/geo_table.h"
#include "dns/zone.h"
#include "health/check_spec.h"

namespace hop::dns {

// What one policy answer's health follows, as the configuration says: a check of its own
// (`health_check:`) or a proxy cluster (`cluster:`, healthy while any of its hosts passes the
// cluster's check). Parsing only records it; bind_health (dns/dns_health.h) gives it live
// state when the control thread applies the configuration.
struct HealthSource {
  std::string cluster;       // `cluster:`; empty for a check of its own
  core::Address target;      // `health_check:`: the address probed ...
  health::CheckSpec check;   // ... and how
};

// What parsing `dns:` asks of the rest of the configuration: the clusters a record's
// `cluster:` may name. Lookups only: parsing watches nothing.
struct ClusterLookup {
  std::function<bool(std::string_view cluster)> exists;  // empty: there are no clusters
  // Why a cluster that exists cannot drive a record's health ("" = it can); optional.
  std::function<std::string(std::string_view cluster)> unusable = nullptr;
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
  std::vector<HealthSource> health_sources;  // PolicyChoice::health indexes this

  const Zone* find_zone(std::string_view name) const {
    for (const auto& z : zones)
      if (z.contains(name)) return &z;
    return nullptr;
  }
};

// Pure: reads files (zone files) but watches, binds and starts nothing, so `hop check` and a
// reload that is then rejected cost no probe.
std::shared_ptr<const DnsConfig> parse_dns_config(const YAML::Node& section, const std::filesystem::path& config_dir,
                                                  config::ConfigErrors& errs, const ClusterLookup& clusters = {});

std::vector<core::Address> listen_addresses(const DnsConfig& cfg);

}  // namespace hop::dns
