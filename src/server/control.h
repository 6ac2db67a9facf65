// The control thread: loads and validates configuration, binds sockets, starts workers,
// runs the health checker and the admin listener, and turns signals into reloads and
// drains. Nothing here is on the request path.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace hop::server {

struct RunOptions {
  std::optional<std::filesystem::path> config_path;  // reloaded on SIGHUP
  std::string config_text;                           // used when there is no path
  std::string config_source = "<built-in>";
  unsigned workers_override = 0;
  std::string banner;  // printed to stdout once serving (quickstart hints)
};

// Serves until SIGTERM/SIGINT and a drain; returns the process exit code.
int run_server(const RunOptions& opts);

}  // namespace hop::server
