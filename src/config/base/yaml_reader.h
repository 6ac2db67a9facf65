// Typed reads of YAML scalars with positioned errors. Each reader returns false (and records
// an error at the node) when the value has the wrong type or is out of range, so a config
// section reader can keep going and report every problem in one pass.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "config/base/errors.h"
#include "core/socket.h"

namespace hop::config {

// Records "unknown key" for every key of the map that is not in `allowed`; false when the
// node is not a map at all.
bool check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed, ConfigErrors& errs,
                std::string_view what);
bool expect_map(const YAML::Node& n, ConfigErrors& errs, std::string_view what);
bool expect_sequence(const YAML::Node& n, ConfigErrors& errs, std::string_view what);

bool read_string(const YAML::Node& n, std::string& out, ConfigErrors& errs);
bool read_bool(const YAML::Node& n, bool& out, ConfigErrors& errs);
bool read_uint(const YAML::Node& n, uint64_t& out, ConfigErrors& errs, uint64_t min = 0,
               uint64_t max = UINT64_MAX);
// "250ms", "1s", "2m", "1h"; a bare number is rejected so units are never guessed.
bool read_duration(const YAML::Node& n, std::chrono::milliseconds& out, ConfigErrors& errs);
// A timeout: more than 0 (a zero timeout would fire at once and fail everything it guards).
bool read_timeout(const YAML::Node& n, std::chrono::milliseconds& out, ConfigErrors& errs);
// "64KiB", "1MiB", "512" (bytes), "1GiB", "10KB"(=10,000)
bool read_size(const YAML::Node& n, uint64_t& out, ConfigErrors& errs);
// "20%" or 20 → 20.0; must be within [0, 100]
bool read_percent(const YAML::Node& n, double& out, ConfigErrors& errs);
// Numeric "IP:port" (IPv6 in brackets).
bool read_address(const YAML::Node& n, core::Address& out, ConfigErrors& errs);

// Parsers behind the readers, for command-line flags and tests.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace hop::config
