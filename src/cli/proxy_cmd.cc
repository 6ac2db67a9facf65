#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "core/socket.h"
#include "server/control.h"

namespace hop::cli {

void register_proxy(CLI::App& app) {
  struct Opts {
    std::string listen = "127.0.0.1:8080";
    std::string to;
    std::string lb = "round_robin";
    std::string hash_on;
    unsigned workers = 0;
    std::string admin;
    bool server_timing = false;
    std::string access_log = "off";
    std::string defer_accept = "1s";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("proxy", "A reverse proxy from flags, no config file (same engine as run)");
  cmd->add_option("-l,--listen", o->listen, "Address to listen on")->capture_default_str();
  cmd->add_option("--to", o->to, "Upstreams: HOST:PORT[,HOST:PORT...]")->required();
  cmd->add_option("--lb", o->lb, "Balancing")
      ->check(CLI::IsMember({"round_robin", "least_request", "random", "maglev"}))
      ->capture_default_str();
  cmd->add_option("--hash-on", o->hash_on, "For maglev: client_ip, header:NAME or cookie:NAME");
  cmd->add_option("-w,--workers", o->workers, "Worker threads (default: one per core)");
  cmd->add_option("--admin", o->admin, "Admin listener address");
  cmd->add_flag("--server-timing", o->server_timing, "Add a Server-Timing header with hop's phases");
  cmd->add_option("--access-log", o->access_log, "off, stdout, stderr or a file")->capture_default_str();
  cmd->add_option("--defer-accept", o->defer_accept, "TCP_DEFER_ACCEPT on the listener (0s = off)")
      ->capture_default_str();
  cmd->callback([o] {
    // The flags become a configuration, validated like any file.
    std::ostringstream y;
    y << "workers: " << o->workers << "\n";
    if (!o->admin.empty()) y << "admin: \"" << o->admin << "\"\n";
    y << "access_log: \"" << o->access_log << "\"\n";
    y << "listeners:\n  - name: proxy\n    address: \"" << o->listen << "\"\n";
    y << "    server_timing: " << (o->server_timing ? "true" : "false") << "\n";
    y << "    timeouts: { defer_accept: \"" << o->defer_accept << "\" }\n";
    y << "    routes:\n      - cluster: upstream\n";
    y << "clusters:\n  - name: upstream\n    lb: " << o->lb << "\n";
    if (!o->hash_on.empty()) y << "    hash_on: \"" << o->hash_on << "\"\n";
    y << "    hosts:\n";
    std::stringstream ss(o->to);
    std::string item;
    while (std::getline(ss, item, ',')) y << "      - \"" << item << "\"\n";
    server::RunOptions ro;
    ro.config_text = y.str();
    ro.config_source = "<hop proxy>";
    set_exit_code(server::run_server(ro));
  });
}

}  // namespace hop::cli
