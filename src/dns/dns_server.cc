#include "dns/dns_server.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "dns/listeners.h"
#include "dns/server_context.h"

namespace hop::dns {

namespace {
// Closes the listeners `drop` selects and destroys them after this loop iteration.
template <typename L, typename Pred>
void retire(core::EventLoop& loop, std::vector<std::unique_ptr<L>>& listeners, Pred drop) {
  auto keep = std::stable_partition(listeners.begin(), listeners.end(), [&](const auto& l) { return !drop(*l); });
  auto retired = std::make_shared<std::vector<std::unique_ptr<L>>>();
  for (auto it = keep; it != listeners.end(); ++it) {
    (*it)->close();
    retired->push_back(std::move(*it));
  }
  listeners.erase(keep, listeners.end());
  if (!retired->empty()) loop.defer([retired] {});
}
}  // namespace

DnsServer::DnsServer(core::EventLoop& loop, DnsMetrics& metrics)
    : ctx_(std::make_unique<ServerContext>(loop, metrics)) {}

DnsServer::~DnsServer() {
  udp_.clear();
  tcp_.clear();
}

bool DnsServer::open(const core::Address& addr, std::string& error) {
  int u = -1, t = -1;
  core::Address bound;
  // Port 0 (tests): the TCP socket takes the port the kernel gave the UDP one, which TCP may
  // already be using; try another.
  for (int attempt = 0; attempt < (addr.port() == 0 ? 20 : 1); ++attempt) {
    u = core::listen_socket(addr, core::SocketKind::kDatagram, true);
    if (u < 0) {
      error = "dns: cannot bind UDP " + addr.to_string() + ": " + strerror(errno);
      return false;
    }
    bound = core::local_address(u).value_or(addr);
    t = core::listen_socket(bound, core::SocketKind::kStream, true);
    if (t >= 0) break;
    error = "dns: cannot listen on TCP " + bound.to_string() + ": " + strerror(errno);
    ::close(u);
  }
  if (t < 0) return false;
  udp_.push_back(std::make_unique<UdpListener>(*ctx_, u, bound));
  udp_.back()->set_configured(addr);
  tcp_.push_back(std::make_unique<TcpListener>(*ctx_, t, bound));
  tcp_.back()->set_configured(addr);
  return true;
}

bool DnsServer::start(std::shared_ptr<const DnsConfig> cfg, std::shared_ptr<const DnsHealth> health,
                      std::string& error) {
  ctx_->cfg = std::move(cfg);
  ctx_->health = std::move(health);
  ctx_->draining = false;
  for (const auto& a : ctx_->cfg->listen) {
    if (!open(a, error)) {
      udp_.clear();
      tcp_.clear();
      return false;
    }
  }
  return true;
}

void DnsServer::update(std::shared_ptr<const DnsConfig> cfg, std::shared_ptr<const DnsHealth> health) {
  ctx_->cfg = std::move(cfg);
  ctx_->health = std::move(health);
  ctx_->draining = false;  // dns: removed by one reload and given back by a later one
  const auto& want = ctx_->cfg->listen;
  // New addresses are bound before the old ones close, so a move never leaves a gap (the
  // control thread has checked that they can be bound before it published the reload).
  for (const auto& a : want) {
    bool have = std::any_of(udp_.begin(), udp_.end(), [&](const auto& l) { return l->configured() == a; });
    std::string error;
    if (!have && !open(a, error)) spdlog::error("{}", error);
  }
  auto wanted = [&](const core::Address& a) { return std::find(want.begin(), want.end(), a) != want.end(); };
  retire(ctx_->loop, udp_, [&](const auto& l) { return !wanted(l.configured()); });
  retire(ctx_->loop, tcp_, [&](const auto& l) { return !wanted(l.configured()); });
}

void DnsServer::stop() {
  retire(ctx_->loop, udp_, [](const auto&) { return true; });
  retire(ctx_->loop, tcp_, [](const auto&) { return true; });
  ctx_->drain();
}

size_t DnsServer::open_connections() const { return ctx_->connections.size(); }

std::vector<core::Address> DnsServer::bound_udp() const {
  std::vector<core::Address> out;
  for (const auto& l : udp_) out.push_back(l->address());
  return out;
}

std::vector<core::Address> DnsServer::bound_tcp() const {
  std::vector<core::Address> out;
  for (const auto& l : tcp_) out.push_back(l->address());
  return out;
}

}  // namespace hop::dns
