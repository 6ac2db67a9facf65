// A one-thread hop DNS server for benchmarks and integration tests while `hop run` does not
// serve `dns:` yet: the same DnsServer a hop worker runs, with the health checker on the
// same loop. Usage: dns_serve CONFIG.yaml   (SIGTERM/SIGINT to stop)
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "core/event_loop.h"
#include "dns/dns_config.h"
#include "dns/dns_health.h"
#include "dns/dns_metrics.h"
#include "dns/dns_server.h"
#include "health/health_checker.h"

using namespace hop;

namespace {
struct SignalStop final : core::IoHandler {
  core::EventLoop& loop;
  dns::DnsServer& server;
  int fd;
  SignalStop(core::EventLoop& l, dns::DnsServer& s, int f) : loop(l), server(s), fd(f) {}
  void on_io(uint32_t) override {
    signalfd_siginfo si;
    while (::read(fd, &si, sizeof si) == sizeof si) {
    }
    server.stop();
    loop.stop();
  }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CONFIG.yaml\n", argv[0]);
    return 2;
  }
  std::filesystem::path path = argv[1];
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[1], e.what());
    return 1;
  }
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  config::ConfigErrors errs(path.string());
  auto cfg = dns::parse_dns_config(root["dns"], path.parent_path(), errs);
  if (!cfg) {
    std::fprintf(stderr, "%s", errs.to_string().c_str());
    return 1;
  }
  auto health = dns::bind_health(*cfg, checker, {});
  dns::DnsMetrics metrics;
  dns::DnsServer server(loop, metrics);
  std::string error;
  if (!server.start(cfg, health, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  SignalStop stop(loop, server, sfd);
  loop.add(sfd, &stop);
  spdlog::info("dns_serve: serving {} zone(s) on {}", cfg->zones.size(), server.bound_udp().at(0).to_string());
  loop.run();
  std::string text;
  dns::render_dns_metrics({&metrics}, text);
  if (getenv("DNS_SERVE_METRICS")) std::fputs(text.c_str(), stderr);
  return 0;
}
