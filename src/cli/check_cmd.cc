#include <iostream>

#include "cli/commands.h"
#include "config/loader.h"

namespace hop::cli {

void register_check(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("check", "Validate a configuration: errors as FILE:LINE:COL, exit 1 if any");
  cmd->add_option("-c,--config", *path, "YAML configuration file")->required();
  cmd->callback([path] {
    // Loading validates everything (health checks included) and starts nothing.
    config::ConfigErrors errs(*path);
    auto cfg = config::load_config_file(*path, errs);
    if (!cfg) {
      std::cerr << errs.to_string();
      set_exit_code(1);
      return;
    }
    std::cout << *path << ": ok (" << cfg->summary() << ")\n";
  });
}

}  // namespace hop::cli
