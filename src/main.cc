// hop: one binary for the whole request path. Each subcommand lives in src/cli/.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
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
