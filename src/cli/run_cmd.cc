#include <memory>

#include "cli/commands.h"
#include "cli/quickstart.h"
#include "server/control.h"

namespace hop::cli {

void register_run(CLI::App& app) {
  struct Opts {
    std::string config;
    unsigned workers = 0;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("run", "Serve a configuration (the quickstart when no file is given)");
  cmd->add_option("-c,--config", opts->config, "YAML configuration file")->check(CLI::ExistingFile);
  cmd->add_option("-w,--workers", opts->workers, "Worker threads (default: the config's, else one per core)");
  cmd->callback([opts] {
    server::RunOptions ro;
    ro.workers_override = opts->workers;
    if (!opts->config.empty()) {
      ro.config_path = opts->config;
    } else {
      ro.config_text = kQuickstartConfig;
      ro.config_source = "<quickstart>";
      ro.banner = kQuickstartBanner;
    }
    set_exit_code(server::run_server(ro));
  });
}

}  // namespace hop::cli
