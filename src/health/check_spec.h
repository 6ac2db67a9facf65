// What an active health check does (`health_check:` of a cluster or a DNS answer): plain
// data, so configuration can hold it without anything that probes.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/base/errors.h"

namespace hop::health {

struct CheckSpec {
  enum class Kind { kHttp, kTcp };
  Kind kind = Kind::kHttp;
  std::string method = "GET";
  std::string path = "/health";
  std::string host;  // Host header; empty = the target address
  std::vector<std::pair<int, int>> expected_statuses{{200, 399}};  // inclusive ranges
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
  double jitter = 0.1;  // each interval is stretched by up to this fraction, at random
  uint32_t unhealthy_threshold = 2;
  uint32_t healthy_threshold = 2;

  bool operator==(const CheckSpec&) const = default;
  std::string describe() const;  // "http GET /health every 1000ms" for logs and admin
};

// Parses a `health_check:` map. Keys: http (path, or a map {path, method, host, expect}),
// tcp: true, interval, timeout, jitter, unhealthy, healthy. Returns false and records
// positioned errors when invalid.
bool parse_check_spec(const YAML::Node& node, CheckSpec& out, config::ConfigErrors& errs);

}  // namespace hop::health
