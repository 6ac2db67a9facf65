// YAML → validated Config. Every problem is reported with its position; a config with any
// error is never returned, so a bad SIGHUP leaves the running snapshot in place.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "config/base/errors.h"
#include "config/config.h"

namespace hop::config {

// Loading reads files (the config, zone files, certificates, ticket keys) and starts nothing:
// health probes, resolvers and sockets belong to the control thread, which starts them when
// it applies a configuration. So `hop check` and a reload that is rejected have no effect.
std::shared_ptr<const Config> load_config_file(const std::filesystem::path& path, ConfigErrors& errs);
// base_dir resolves relative paths inside the config (zone files, certificates).
std::shared_ptr<const Config> load_config_text(const std::string& text, const std::string& source,
                                               const std::filesystem::path& base_dir, ConfigErrors& errs);

}  // namespace hop::config
