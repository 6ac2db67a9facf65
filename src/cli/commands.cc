#include "cli/commands.h"

namespace hop::cli {

namespace {
int g_exit_code = 0;
}

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

void register_all(CLI::App& app) {
  register_run(app);
  register_check(app);
  register_proxy(app);
  register_backend(app);
  register_version(app);
  register_trace(app);
}

}  // namespace hop::cli
