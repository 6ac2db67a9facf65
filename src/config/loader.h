// YAML → validated Config. Every problem is reported with its position; a config with any
// error is never returned, so a bad SIGHUP leaves the running snapshot in place.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "config/base/errors.h"
#include "config/config.h"

namespace hop::health {
class HealthChecker;
}

namespace hop::config {

struct LoadContext {
  // Health states are shared across reloads through the process's checker. Null in tests
  // that do not care; then health checks are parsed but not watched.
  health::HealthChecker* checker = nullptr;
};

std::shared_ptr<const Config> load_config_file(const std::filesystem::path& path, ConfigErrors& errs,
                                               const LoadContext& ctx);
// base_dir resolves relative paths inside the config (zone files, certificates).
std::shared_ptr<const Config> load_config_text(const std::string& text, const std::string& source,
                                               const std::filesystem::path& base_dir, ConfigErrors& errs,
                                               const LoadContext& ctx);

}  // namespace hop::config
