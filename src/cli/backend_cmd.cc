#include <memory>

#include "cli/commands.h"
#include "core/socket.h"
#include "server/control.h"

namespace hop::cli {

void register_backend(CLI::App& app) {
  struct Opts {
    std::string listen = "127.0.0.1:9001";
    std::string name = "backend";
    unsigned workers = 1;
    int fail_status = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "backend", "A built-in origin: echoes requests as JSON; /status/N, /delay/MS, /bytes/N, /health");
  cmd->add_option("-l,--listen", o->listen, "Address to listen on")->capture_default_str();
  cmd->add_option("-n,--name", o->name, "Name sent in the x-backend header")->capture_default_str();
  cmd->add_option("-w,--workers", o->workers, "Worker threads")->capture_default_str();
  cmd->add_option("--fail-status", o->fail_status, "Fault injection: answer every path but /health with this status")
      ->check(CLI::Range(200, 599));
  cmd->callback([o] {
    if (!core::Address::parse(o->listen)) {
      std::fprintf(stderr, "hop backend: --listen %s: expected IP:PORT\n", o->listen.c_str());
      set_exit_code(2);
      return;
    }
    server::RunOptions ro;
    ro.config_text = "workers: " + std::to_string(o->workers) + "\nbackends:\n  - name: \"" + o->name +
                     "\"\n    address: \"" + o->listen + "\"\n" +
                     (o->fail_status ? "    fail_status: " + std::to_string(o->fail_status) + "\n" : "");
    ro.config_source = "<hop backend>";
    set_exit_code(server::run_server(ro));
  });
}

}  // namespace hop::cli
