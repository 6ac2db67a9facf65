// Each command registers its CLI11 subcommand and records its exit code when it runs.
#pragma once

#include <CLI/CLI.hpp>

namespace hop::cli {

void register_all(CLI::App& app);
void set_exit_code(int code);
int exit_code();

// One registration function per command file.
void register_version(CLI::App& app);
void register_run(CLI::App& app);
void register_check(CLI::App& app);
void register_proxy(CLI::App& app);
void register_backend(CLI::App& app);
void register_trace(CLI::App& app);

}  // namespace hop::cli
