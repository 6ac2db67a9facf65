#include "server/control.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "admin/admin_server.h"
#include "admin/metrics_text.h"
#include "config/loader.h"
#include "core/alloc_stats.h"
#include "core/log.h"
#include "health/health_checker.h"
#include "proxy/snapshot.h"
#include "server/listener_socket.h"
#include "server/tls_contexts.h"
#include "dns/dns_config.h"
#include "dns/dns_health.h"
#include "dns/upstream_resolver.h"
#include "server/worker.h"
#include "upstream/outlier_detector.h"

namespace hop::server {

namespace {

class Control final : public core::IoHandler {
 public:
  explicit Control(const RunOptions& opts)
      : opts_(opts), checker_(loop_), ticket_timer_(loop_, [this] { rotate_tickets(); }) {}
  int run();
  void on_io(uint32_t) override;  // signalfd

 private:
  std::shared_ptr<const config::Config> load(config::ConfigErrors& errs);
  bool open_sockets(const config::Config& cfg, std::vector<std::vector<ListenerSocket>>& per_worker, std::string& err);
  void reload();
  void start_drain();
  // The access log's sink for `cfg`: -1 when off, else a new descriptor (a file is opened,
  // or created, for appending). False with `err` when the file cannot be opened.
  bool open_access_log(const config::Config& cfg, int& fd, std::string& err);
  // Replaces the sink the workers write to (each gets its own dup of fd, which this keeps).
  void switch_access_log(int fd);
  // A worker's own descriptor for the sink `fd` (-1 when logging is off).
  static int worker_log_fd(int fd) { return fd >= 0 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1; }
  // SIGUSR1: reopens the access log file of the configuration in force (log rotation).
  void reopen_access_log();
  admin::AdminResponse admin(std::string_view method, std::string_view path);
  std::string clusters_json() const;

  RunOptions opts_;
  core::EventLoop loop_;
  health::HealthChecker checker_;
  std::unique_ptr<stats::Registry> registry_;
  upstream::SharedStateRegistry shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const proxy::Snapshot> snapshot_;
  // Listening sockets by key, one fd per worker: kept across reloads so a SIGHUP never
  // closes a port that stays configured.
  std::map<std::string, std::vector<ListenerSocket>> sockets_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::optional<core::Address> admin_addr_;
  int signal_fd_ = -1;
  uint64_t generation_ = 0;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
  bool draining_ = false;
  int access_log_fd_ = -1;
  std::unique_ptr<std::thread> joiner_;

  // Cluster hosts given by name: one watch per name:port, kept across reloads.
  struct Resolved {
    uint64_t watch = 0;
    std::vector<core::Address> addresses;
    bool answered = false;     // a first answer (positive or negative) came
    core::TimePoint since{};   // when the name was first configured
  };
  // The name that keeps /ready at 503 (no answer yet, within resolver.ready_wait), or "".
  std::string unresolved_name() const;
  std::unique_ptr<dns::UpstreamResolver> resolver_;
  dns::ResolverOptions resolver_options_;  // what resolver_ was built with
  std::map<std::string, Resolved> resolved_;
  void sync_resolver(const config::Config& cfg);
  // TLS contexts of the configuration in force, and the ticket keys that outlive reloads.
  TlsRegistry tls_;
  proxy::TlsContexts tls_contexts_;
  core::Timer ticket_timer_;
  void rotate_tickets() {
    tls_.rotate_due(core::Clock::now());
    ticket_timer_.arm(core::Millis(60000));
  }
  // Builds what the workers serve `cfg` with: the snapshot (clusters and their hosts'
  // health states) and the health of its DNS answers. Probes start here, when a
  // configuration is applied, never while one is parsed.
  void build(std::shared_ptr<const config::Config> cfg);
  std::shared_ptr<const dns::DnsHealth> bind_dns_health(const config::Config& cfg);
  std::shared_ptr<const dns::DnsHealth> dns_health_;  // of snapshot_'s config; null without dns
  void publish(std::shared_ptr<const config::Config> cfg);
  std::vector<std::vector<ListenerSocket>> sockets_per_worker() const;
  proxy::ResolvedLookup lookup() const {
    return [this](const std::string& name, uint16_t port) {
      auto it = resolved_.find(name + ":" + std::to_string(port));
      return it == resolved_.end() ? std::vector<core::Address>{} : it->second.addresses;
    };
  }
};

namespace {
bool same_resolver_options(const dns::ResolverOptions& a, const dns::ResolverOptions& b) {
  return a.servers == b.servers && a.min_ttl == b.min_ttl && a.max_ttl == b.max_ttl &&
         a.negative_ttl == b.negative_ttl && a.timeout == b.timeout;
}

// Workers bind DNS sockets themselves, after the reload is published, where a failure can
// only be logged. So a reload first proves that each new DNS address can be bound (UDP and
// TCP, with SO_REUSEPORT as the workers will), and is rejected if one cannot.
bool probe_new_dns_addresses(const config::Config& next, const config::Config* current, std::string& err) {
  if (!next.dns) return true;
  for (const auto& a : next.dns->listen) {
    if (a.port() == 0) continue;  // any free port: nothing to prove
    if (current && current->dns &&
        std::find(current->dns->listen.begin(), current->dns->listen.end(), a) != current->dns->listen.end())
      continue;  // already bound by the workers
    for (auto kind : {core::SocketKind::kDatagram, core::SocketKind::kStream}) {
      int fd = core::listen_socket(a, kind, true);
      if (fd < 0) {
        err = std::string("dns: cannot bind ") + (kind == core::SocketKind::kStream ? "TCP " : "UDP ") + a.to_string() +
              ": " + strerror(errno);
        return false;
      }
      ::close(fd);
    }
  }
  return true;
}
}  // namespace

void Control::sync_resolver(const config::Config& cfg) {
  std::map<std::string, std::pair<std::string, uint16_t>> wanted;
  for (const auto& c : cfg.clusters)
    for (const auto& h : c.hosts)
      if (!h.dns_name.empty()) wanted[h.dns_name + ":" + std::to_string(h.port)] = {h.dns_name, h.port};
  if (!wanted.empty() && !resolver_) {
    resolver_ = std::make_unique<dns::UpstreamResolver>(loop_, cfg.resolver);
    resolver_options_ = cfg.resolver;
  } else if (resolver_ && !same_resolver_options(cfg.resolver, resolver_options_)) {
    // Rebuilding the resolver would drop every answer it holds (hosts would vanish until
    // re-resolved); only ready_wait, read from the snapshot, follows a reload.
    HOP_LOG_WARN("reload: resolver servers, TTL bounds and timeout take effect on restart");
  }
  for (auto it = resolved_.begin(); it != resolved_.end();) {
    if (!wanted.count(it->first)) {
      resolver_->unwatch(it->second.watch);
      it = resolved_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& entry : wanted) {
    const std::string& key = entry.first;  // named: clang cannot capture structured bindings
    const auto& np = entry.second;
    if (resolved_.count(key)) continue;
    resolved_[key].since = core::Clock::now();
    resolved_[key].watch = resolver_->watch(np.first, np.second, [this, key](const std::vector<core::Address>& addrs) {
      auto it = resolved_.find(key);
      if (it == resolved_.end()) return;
      it->second.addresses = addrs;
      it->second.answered = true;
      HOP_LOG_INFO("resolver: {} → {} addresses", key, addrs.size());
      // Hosts come and go with a new snapshot: in-flight requests keep the hosts (and
      // pools) they started with; removed hosts' pools drain.
      if (snapshot_ && !draining_) publish(snapshot_->config);
    });
  }
}

std::string Control::unresolved_name() const {
  if (!snapshot_) return {};
  auto wait = snapshot_->config->resolver.ready_wait;
  auto now = core::Clock::now();
  for (const auto& [key, r] : resolved_)
    if (!r.answered && now - r.since < wait) return key;
  return {};
}

std::vector<std::vector<ListenerSocket>> Control::sockets_per_worker() const {
  std::vector<std::vector<ListenerSocket>> per_worker(workers_.size());
  for (const auto& [key, fds] : sockets_)
    for (size_t w = 0; w < fds.size() && w < per_worker.size(); ++w) per_worker[w].push_back(fds[w]);
  return per_worker;
}

void Control::build(std::shared_ptr<const config::Config> cfg) {
  // Built while the previous snapshot still holds its health states, so the checker hands
  // the same states back for the same (host, check): health survives a reload.
  snapshot_ = proxy::build_snapshot(cfg, &checker_, *registry_, shared_, ++generation_, lookup(), &tls_contexts_);
  dns_health_ = bind_dns_health(*cfg);
}

std::shared_ptr<const dns::DnsHealth> Control::bind_dns_health(const config::Config& cfg) {
  if (!cfg.dns) return nullptr;
  // A record that follows a cluster watches the cluster's own (host, check) pairs, as the
  // snapshot's hosts do: one probe serves both. The loader refused clusters whose hosts are
  // given by name, whose addresses these states could not follow.
  auto cluster_health = [this, &cfg](std::string_view name) -> std::function<bool()> {
    const config::ClusterConfig* c = cfg.find_cluster(name);
    if (!c || !c->health_check) return {};
    std::vector<std::shared_ptr<health::HealthState>> states;
    for (const auto& h : c->hosts) states.push_back(checker_.watch(h.address, *c->health_check));
    return [states] {
      for (const auto& s : states)
        if (s->healthy()) return true;
      return false;
    };
  };
  return dns::bind_health(*cfg.dns, checker_, cluster_health);
}

void Control::publish(std::shared_ptr<const config::Config> cfg) {
  build(std::move(cfg));
  auto per_worker = sockets_per_worker();
  for (size_t i = 0; i < workers_.size(); ++i) workers_[i]->apply(snapshot_, dns_health_, per_worker[i]);
}

std::shared_ptr<const config::Config> Control::load(config::ConfigErrors& errs) {
  if (opts_.config_path) return config::load_config_file(*opts_.config_path, errs);
  return config::load_config_text(opts_.config_text, opts_.config_source, std::filesystem::current_path(), errs);
}

bool Control::open_sockets(const config::Config& cfg, std::vector<std::vector<ListenerSocket>>& per_worker,
                           std::string& err) {
  std::map<std::string, std::vector<ListenerSocket>> next;
  // defer_s is set on kept sockets too, so a reload can change it.
  auto want = [&](ListenerKind kind, const std::string& name, const core::Address& addr, int defer_s) -> bool {
    ListenerSocket proto{kind, name, addr, -1};
    std::string key = proto.key();
    auto it = sockets_.find(key);
    if (it != sockets_.end()) {
      for (auto& s : it->second) core::set_defer_accept(s.fd, defer_s);
      next[key] = it->second;
      return true;
    }
    std::vector<ListenerSocket> fds;
    for (size_t w = 0; w < workers_.size(); ++w) {
      ListenerSocket s = proto;
      s.fd = core::listen_socket(addr, core::SocketKind::kStream, true);
      if (s.fd < 0) {
        err = "cannot listen on " + addr.to_string() + " (" + name + "): " + strerror(errno);
        for (auto& f : fds) ::close(f.fd);
        return false;
      }
      core::set_defer_accept(s.fd, defer_s);
      fds.push_back(s);
    }
    next[key] = std::move(fds);
    return true;
  };
  for (const auto& l : cfg.listeners) {
    auto ms = l.timeouts.defer_accept.count();
    if (!want(ListenerKind::kHttp, l.name, l.address, static_cast<int>((ms + 999) / 1000))) goto fail;
  }
  for (const auto& b : cfg.backends)
    if (!want(ListenerKind::kBackend, b.name, b.address, 0)) goto fail;
  per_worker.assign(workers_.size(), {});
  for (auto& [key, fds] : next)
    for (size_t w = 0; w < fds.size(); ++w) per_worker[w].push_back(fds[w]);
  // Sockets no longer configured are closed by the workers (they own the fds they drop).
  sockets_ = std::move(next);
  return true;
fail:
  // Close only the sockets opened in this attempt.
  for (auto& [key, fds] : next)
    if (!sockets_.count(key))
      for (auto& f : fds) ::close(f.fd);
  return false;
}

int Control::run() {
  // Signals are taken over before any port is bound: a SIGHUP or SIGTERM sent as soon as a
  // port accepts (a deploy script reloading a fresh hop) would otherwise find the default
  // action -- exit -- still in place. Blocked, they wait in the signalfd for the loop.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);  // workers inherit the mask: signals come here
  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  loop_.add(signal_fd_, this, 0x001);

  config::ConfigErrors errs(opts_.config_path ? opts_.config_path->string() : opts_.config_source);
  auto cfg = load(errs);
  if (!cfg) {
    std::cerr << errs.to_string();
    return 1;
  }
  unsigned n = opts_.workers_override ? opts_.workers_override : cfg->workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  registry_ = std::make_unique<stats::Registry>(n);

  {
    std::string log_err;
    if (!open_access_log(*cfg, access_log_fd_, log_err)) {
      std::cerr << log_err << "\n";
      return 1;
    }
  }
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, worker_log_fd(access_log_fd_)));
  }
  std::string err;
  if (!tls_.build(*cfg, tls_contexts_, err)) {
    std::cerr << "hop: " << err << "\n";
    return 1;
  }
  ticket_timer_.arm(core::Millis(60000));
  sync_resolver(*cfg);
  build(cfg);
  std::vector<std::vector<ListenerSocket>> per_worker;
  if (!open_sockets(*cfg, per_worker, err)) {
    std::cerr << "hop: " << err << "\n";
    return 1;
  }
  if (cfg->admin) {
    admin_ = std::make_unique<admin::AdminServer>(loop_, [this](std::string_view m, std::string_view p) { return admin(m, p); });
    if (!admin_->listen(*cfg->admin, err)) {
      std::cerr << "hop: " << err << "\n";
      return 1;
    }
    admin_addr_ = cfg->admin;
  }

  for (size_t i = 0; i < workers_.size(); ++i) {
    if (!workers_[i]->start(snapshot_, dns_health_, per_worker[i], err)) {
      std::cerr << "hop: " << err << "\n";
      for (size_t j = 0; j < i; ++j) workers_[j]->drain(core::Millis(0));
      for (auto& w : workers_) w->join();
      return 1;
    }
  }
  HOP_LOG_INFO("hop serving {} ({}) with {} workers", cfg->source, cfg->summary(), workers_.size());
  if (!opts_.banner.empty()) {
    std::cout << opts_.banner << std::flush;
  }
  loop_.run();
  for (auto& w : workers_) w->join();
  if (access_log_fd_ >= 0) ::close(access_log_fd_);
  HOP_LOG_INFO("hop stopped");
  return 0;
}

void Control::on_io(uint32_t) {
  signalfd_siginfo si;
  while (::read(signal_fd_, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGHUP) reload();
    else if (si.ssi_signo == SIGUSR1) reopen_access_log();
    else start_drain();
  }
}

void Control::reload() {
  if (draining_) return;
  if (!opts_.config_path) {
    HOP_LOG_WARN("SIGHUP: no configuration file to reload (serving {})", opts_.config_source);
    return;
  }
  config::ConfigErrors errs(opts_.config_path->string());
  auto cfg = load(errs);
  if (!cfg) {
    ++reloads_failed_;
    HOP_LOG_ERROR("reload rejected, keeping the configuration in force:\n{}", errs.to_string());
    return;
  }
  std::vector<std::vector<ListenerSocket>> per_worker;
  std::string err;
  // Certificates are re-read on every reload: renewed files take effect without a restart.
  proxy::TlsContexts tls_contexts;
  if (!tls_.build(*cfg, tls_contexts, err)) {
    ++reloads_failed_;
    HOP_LOG_ERROR("reload rejected, keeping the configuration in force: {}", err);
    return;
  }
  // The access log is reopened on every reload too (rotation, or a new path).
  int log_fd = -1;
  if (!open_access_log(*cfg, log_fd, err)) {
    ++reloads_failed_;
    HOP_LOG_ERROR("reload rejected, keeping the configuration in force: {}", err);
    return;
  }
  if (!probe_new_dns_addresses(*cfg, snapshot_ ? snapshot_->config.get() : nullptr, err) ||
      !open_sockets(*cfg, per_worker, err)) {
    if (log_fd >= 0) ::close(log_fd);
    ++reloads_failed_;
    HOP_LOG_ERROR("reload rejected, keeping the configuration in force: {}", err);
    return;
  }
  switch_access_log(log_fd);
  if (cfg->admin && (!admin_addr_ || !(*cfg->admin == *admin_addr_)))
    HOP_LOG_WARN("reload: admin address changes take effect on restart");
  tls_contexts_ = std::move(tls_contexts);
  sync_resolver(*cfg);
  publish(cfg);
  ++reloads_ok_;
  HOP_LOG_INFO("reloaded {} (generation {}: {})", cfg->source, generation_, cfg->summary());
}

bool Control::open_access_log(const config::Config& cfg, int& fd, std::string& err) {
  const std::string& path = cfg.access_log.path;
  if (path.empty()) fd = -1;
  else if (path == "stdout") fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
  else if (path == "stderr") fd = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  else {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      err = "cannot open access log " + path + ": " + strerror(errno);
      return false;
    }
  }
  return true;
}

void Control::switch_access_log(int fd) {
  for (auto& w : workers_) w->set_access_log(worker_log_fd(fd));
  if (access_log_fd_ >= 0) ::close(access_log_fd_);
  access_log_fd_ = fd;
}

void Control::reopen_access_log() {
  int fd = -1;
  std::string err;
  if (!open_access_log(*snapshot_->config, fd, err)) {
    HOP_LOG_ERROR("SIGUSR1: {}; the access log goes on to the old file", err);
    return;
  }
  switch_access_log(fd);
  HOP_LOG_INFO("SIGUSR1: access log reopened");
}

void Control::start_drain() {
  if (draining_) return;
  draining_ = true;
  auto timeout = snapshot_->config->drain_timeout;
  HOP_LOG_INFO("draining (up to {} ms)", timeout.count());
  for (auto& w : workers_) w->drain(timeout);
  // Join the workers off the control loop so the admin port keeps answering (/ready says
  // 503) while requests finish.
  joiner_ = std::make_unique<std::thread>([this] {
    for (auto& w : workers_) w->join();
    loop_.post([this] { loop_.stop(); });
  });
  joiner_->detach();
}

admin::AdminResponse Control::admin(std::string_view method, std::string_view path) {
  if (method != "GET" && method != "HEAD") return {405, "text/plain", "GET only\n"};
  if (path == "/ready") {
    if (draining_) return {503, "text/plain", "draining\n"};
    std::string name = unresolved_name();
    if (!name.empty()) return {503, "text/plain", "resolving upstream name " + name + "\n"};
    return {200, "text/plain", "ready\n"};
  }
  if (path == "/metrics") {
    admin::AdminResponse r{200, "text/plain; version=0.0.4", ""};
    admin::ProcessGauges g{generation_, reloads_ok_, reloads_failed_, draining_};
    admin::HealthEjections health;
    for (const auto& c : snapshot_->clusters) {
      uint64_t& n = health[c.name()];
      for (const auto& h : c.hosts()) n += h.health ? h.health->went_unhealthy() : 0;
    }
    admin::render_metrics(*registry_, g, health, r.body);
    if (core::heap_allocations_counted()) {
      r.body += "# HELP hop_heap_allocations_total Heap allocations since start (counting build only).\n"
                "# TYPE hop_heap_allocations_total counter\nhop_heap_allocations_total " +
                std::to_string(core::heap_allocations()) + "\n";
    }
    if (snapshot_->config->dns) {
      std::vector<const dns::DnsMetrics*> dm;
      for (const auto& w : workers_) dm.push_back(&w->dns_metrics());
      dns::render_dns_metrics(dm, r.body);
    }
    return r;
  }
  if (path == "/clusters") return {200, "application/json", clusters_json()};
  if (path == "/config") {
    return {200, "application/yaml", "# " + snapshot_->config->source + " (generation " + std::to_string(generation_) +
                                         ")\n" + snapshot_->config->text};
  }
  if (path == "/") return {200, "text/plain", "hop admin: /metrics /ready /clusters /config\n"};
  return {404, "text/plain", "not found\n"};
}

std::string Control::clusters_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : snapshot_->clusters) {
    nlohmann::json jc;
    jc["name"] = c.name();
    jc["lb"] = config::to_string(c.config().lb);
    uint64_t requests = 0, opened = 0, reused = 0, failures = 0;
    int64_t pending = 0, active = 0;
    for (unsigned w = 0; w < registry_->workers(); ++w) {
      auto& s = c.stats(w);
      requests += s.requests.value();
      opened += s.connections_opened.value();
      reused += s.connections_reused.value();
      failures += s.connect_failures.value();
      pending += s.pending.value();
      active += s.active_connections.value();
    }
    jc["active_requests"] = c.shared().active_requests.load();
    jc["active_retries"] = c.shared().active_retries.load();
    jc["stats"] = {{"requests", requests},         {"connections_opened", opened}, {"connections_reused", reused},
                   {"connect_failures", failures}, {"pending", pending},           {"connections_active", active}};
    nlohmann::json hosts = nlohmann::json::array();
    for (const auto& h : c.hosts()) {
      int64_t now = upstream::steady_now_ms();
      nlohmann::json jh{{"address", h.name}, {"weight", h.weight}, {"healthy", h.healthy(now)}};
      const auto& o = *h.outlier;
      bool ejected = h.ejected(now);
      jh["outlier"] = {{"ejected", ejected},
                       {"ejected_for_ms", ejected ? o.ejected_until_ms.load() - now : 0},
                       {"ejections", o.ejections.load()},
                       {"reason", ejected ? upstream::ejection_reason(o.reason()) : "none"},
                       {"consecutive_5xx", o.consecutive_5xx.load()},
                       {"consecutive_gateway_failures", o.consecutive_gateway.load()},
                       {"consecutive_connect_failures", o.consecutive_connect.load()}};
      std::string reason = "ok";
      if (!h.health_ok()) reason = "failing health check: " + h.health->last_result();
      else if (ejected) reason = std::string("ejected: ") + upstream::ejection_reason(o.reason());
      jh["reason"] = reason;
      if (h.health) {
        jh["health_check"] = {{"check", h.health->spec().describe()},
                              {"last_result", h.health->last_result()},
                              {"consecutive_failures", h.health->consecutive_failures()},
                              {"consecutive_successes", h.health->consecutive_successes()},
                              {"checks", h.health->checks()}};
      }
      hosts.push_back(jh);
    }
    jc["hosts"] = hosts;
    out.push_back(jc);
  }
  return out.dump(2) + "\n";
}

}  // namespace

int run_server(const RunOptions& opts) {
  Control c(opts);
  return c.run();
}

}  // namespace hop::server
