#include "trace/dns_resolver.h"

#include <arpa/inet.h>
#include <ares.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>

namespace hop::trace {

namespace {

// c-ares is initialised once per process (ares_library_init is not reentrant).
void init_ares_library() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

ares_channel as_channel(void* p) { return static_cast<ares_channel>(p); }

struct QueryState {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<core::Address> addresses;
  int ttl = -1;
};

void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* state = static_cast<QueryState*>(arg);
  state->done = true;
  state->status = status;
  if (status != ARES_SUCCESS || result == nullptr) {
    if (result) ares_freeaddrinfo(result);
    return;
  }
  for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
    if (state->addresses.size() >= 16) break;  // enough to try; a huge answer is not useful
    core::Address a;
    if (n->ai_addrlen > sizeof(a.storage)) continue;
    std::memcpy(&a.storage, n->ai_addr, n->ai_addrlen);
    a.len = n->ai_addrlen;
    state->addresses.push_back(a);
    if (state->ttl < 0 || n->ai_ttl < state->ttl) state->ttl = n->ai_ttl;
  }
  ares_freeaddrinfo(result);
}

std::string first_server(ares_channel channel) {
  ares_addr_port_node* servers = nullptr;
  if (ares_get_servers_ports(channel, &servers) != ARES_SUCCESS || servers == nullptr) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  std::string out;
  if (inet_ntop(servers->family, &servers->addr, buf, sizeof buf) != nullptr) {
    int port = servers->udp_port ? servers->udp_port : 53;
    bool v6 = servers->family == AF_INET6;
    if (v6) out += '[';
    out += buf;
    if (v6) out += ']';
    out += ':';
    out += std::to_string(port);
  }
  ares_free_data(servers);
  return out;
}

}  // namespace

bool parse_resolve_override(std::string_view text, ResolveOverride& out, std::string& error) {
  auto first = text.find(':');
  if (first == std::string_view::npos) {
    error = "--resolve wants HOST:PORT:ADDR";
    return false;
  }
  auto second = text.find(':', first + 1);
  if (second == std::string_view::npos) {
    error = "--resolve wants HOST:PORT:ADDR";
    return false;
  }
  out.host = std::string(text.substr(0, first));
  auto port_text = text.substr(first + 1, second - first - 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    error = "--resolve: invalid port '" + std::string(port_text) + "'";
    return false;
  }
  out.port = static_cast<uint16_t>(port);
  std::string addr(text.substr(second + 1));
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  if (!core::Address::from_ip(addr, out.port)) {
    error = "--resolve: '" + addr + "' is not an IP address";
    return false;
  }
  out.address = addr;
  return true;
}

DnsResolver::DnsResolver(Options options) : options_(std::move(options)) {
  init_ares_library();
  ares_options opts{};
  // Bounded retries: the overall deadline is enforced below as well, but without these a
  // dead resolver would use c-ares' default 5 s x 4 tries before reporting.
  opts.timeout = 1000;
  opts.tries = 2;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS) {
    init_error_ = std::string("c-ares init: ") + ares_strerror(rc);
    return;
  }
  if (!options_.servers.empty()) {
    rc = ares_set_servers_ports_csv(channel, options_.servers.c_str());
    if (rc != ARES_SUCCESS) {
      init_error_ = "invalid --dns-server '" + options_.servers + "': " + ares_strerror(rc);
      ares_destroy(channel);
      return;
    }
  }
  channel_ = channel;
}

DnsResolver::~DnsResolver() {
  if (channel_) ares_destroy(as_channel(channel_));
}

ResolveResult DnsResolver::resolve(const std::string& host, uint16_t port,
                                   core::TimePoint deadline) {
  ResolveResult out;
  if (auto literal = core::Address::from_ip(host, port)) {
    out.ok = true;
    out.addresses.push_back(*literal);
    out.info.source = "literal";
    out.info.cached = true;
    out.info.addresses.push_back(literal->host());
    return out;
  }
  for (const auto& o : options_.overrides) {
    if (o.host == host && o.port == port) {
      out.ok = true;
      out.addresses.push_back(*core::Address::from_ip(o.address, port));
      out.info.source = "--resolve";
      out.info.cached = true;
      out.info.addresses.push_back(o.address);
      return out;
    }
  }
  std::string key = host + ":" + std::to_string(port);
  if (auto it = cache_.find(key); it != cache_.end()) {
    out = it->second;
    out.info.cached = true;
    out.info.source = "cache";
    return out;
  }
  if (!channel_) {
    out.error = init_error_;
    return out;
  }
  if (!from_hosts_file(host, port, out)) out = query_dns(host, port, deadline);
  if (out.ok) cache_[key] = out;
  return out;
}

bool DnsResolver::from_hosts_file(const std::string& host, uint16_t port, ResolveResult& out) {
  for (int family : {AF_INET, AF_INET6}) {
    hostent* he = nullptr;
    if (ares_gethostbyname_file(as_channel(channel_), host.c_str(), family, &he) != ARES_SUCCESS ||
        he == nullptr)
      continue;
    for (char** p = he->h_addr_list; *p != nullptr && out.addresses.size() < 16; ++p) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (inet_ntop(family, *p, buf, sizeof buf) == nullptr) continue;
      if (auto a = core::Address::from_ip(buf, port)) {
        out.addresses.push_back(*a);
        out.info.addresses.push_back(buf);
      }
    }
    ares_free_hostent(he);
  }
  if (out.addresses.empty()) return false;
  out.ok = true;
  out.info.source = "/etc/hosts";
  out.info.cached = true;
  return true;
}

ResolveResult DnsResolver::query_dns(const std::string& host, uint16_t port,
                                     core::TimePoint deadline) {
  ResolveResult out;
  ares_channel channel = as_channel(channel_);
  QueryState state;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string service = std::to_string(port);
  ares_getaddrinfo(channel, host.c_str(), service.c_str(), &hints, on_addrinfo, &state);

  while (!state.done) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events == 0) continue;
      fds[n++] = pollfd{socks[i], events, 0};
    }
    auto now = core::Clock::now();
    if (now >= deadline) {
      ares_cancel(channel);  // runs the callback with ARES_ECANCELLED
      out.error = "timed out resolving " + host;
      out.info.resolver = first_server(channel);
      return out;
    }
    timeval max_tv{};
    auto left = std::chrono::duration_cast<core::Micros>(deadline - now).count();
    max_tv.tv_sec = left / 1000000;
    max_tv.tv_usec = left % 1000000;
    timeval tv{};
    timeval* t = ares_timeout(channel, &max_tv, &tv);
    int wait_ms = static_cast<int>(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
    int ready = poll(fds, n, wait_ms);
    if (ready <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts and retries
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      ares_socket_t r = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
      ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(channel, r, w);
    }
  }
  out.info.source = "dns";
  out.info.resolver = first_server(channel);
  if (state.status != ARES_SUCCESS) {
    out.error = "cannot resolve " + host + ": " + ares_strerror(state.status);
    return out;
  }
  if (state.addresses.empty()) {
    out.error = "no addresses for " + host;
    return out;
  }
  out.ok = true;
  out.addresses = std::move(state.addresses);
  out.info.ttl = state.ttl;
  for (const auto& a : out.addresses) out.info.addresses.push_back(a.host());
  return out;
}

}  // namespace hop::trace
