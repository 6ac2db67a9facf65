// hop: one binary for the whole request path. Each subcommand lives in src/cli/.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // The process log goes to stderr: stdout may carry the access log (JSON lines).
  spdlog::set_default_logger(spdlog::stderr_color_mt("hop"));
  CLI::App app{"hop: DNS, L4 and L7 load balancing in one fast binary"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");
  hop::cli::register_all(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return hop::cli::exit_code();
}
