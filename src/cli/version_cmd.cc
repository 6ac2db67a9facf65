#include <cstdio>

#include "cli/commands.h"

#ifndef HOP_VERSION
#define HOP_VERSION "0.1.0"
#endif

namespace hop::cli {

void register_version(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print hop's version");
  cmd->callback([] { std::printf("hop %s\n", HOP_VERSION); });
}

}  // namespace hop::cli
