// TLS and HTTP/2 settings of listeners (`tls:`, `http2:`) and clusters (`protocol:`, `tls:`,
// `http2:`). Certificate files are checked here, so `hop check` and a reload report an
// unreadable, mismatched or expired certificate at the key that names it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "config/base/errors.h"
#include "config/config.h"

namespace hop::config {

// The listener's `tls:` map; relative paths resolve against base_dir.
void parse_listener_tls(const YAML::Node& n, const std::filesystem::path& base_dir, TlsServerConfig& out,
                        ConfigErrors& errs);
void parse_listener_http2(const YAML::Node& n, Http2Settings& out, ConfigErrors& errs);
// The cluster's `protocol:`, `tls:` and `http2:` keys (any may be absent), and how they go
// together (h2 and auto need TLS, h2c must not have it).
void parse_cluster_transport(const YAML::Node& cluster, const std::filesystem::path& base_dir, ClusterConfig& c,
                             ConfigErrors& errs);

}  // namespace hop::config
