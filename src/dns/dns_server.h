// One DnsServer per worker thread: SO_REUSEPORT UDP and TCP sockets for each listen address,
// served on that worker's loop. Every method runs on the loop's thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "dns/dns_config.h"
#include "dns/dns_health.h"
#include "dns/dns_metrics.h"

namespace hop::dns {

class ServerContext;
class UdpListener;
class TcpListener;

class DnsServer {
 public:
  DnsServer(core::EventLoop& loop, DnsMetrics& metrics);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Binds and serves `cfg`, whose answers' health is `health` (bind_health; never null).
  bool start(std::shared_ptr<const DnsConfig> cfg, std::shared_ptr<const DnsHealth> health, std::string& error);
  // SIGHUP: new queries use the new zones; listeners open/close for changed addresses.
  void update(std::shared_ptr<const DnsConfig> cfg, std::shared_ptr<const DnsHealth> health);
  void stop();  // drain: close listeners, answer the TCP queries already received, then close
  size_t open_connections() const;

  // Bound addresses, in listen order (tests listen on port 0).
  std::vector<core::Address> bound_udp() const;
  std::vector<core::Address> bound_tcp() const;

 private:
  bool open(const core::Address& addr, std::string& error);

  std::unique_ptr<ServerContext> ctx_;
  std::vector<std::unique_ptr<UdpListener>> udp_;
  std::vector<std::unique_ptr<TcpListener>> tcp_;
};

}  // namespace hop::dns
