// What a worker's listeners and connections share: the current config snapshot and the
// health of its answers, the answer scratch space, metrics and the set of open TCP
// connections. Private to src/dns.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <unordered_set>

#include "core/event_loop.h"
#include "dns/answer.h"
#include "dns/dns_config.h"
#include "dns/dns_health.h"
#include "dns/dns_metrics.h"

namespace hop::dns {

class TcpConnection;

class ServerContext {
 public:
  ServerContext(core::EventLoop& l, DnsMetrics& m);
  ~ServerContext();

  // Answers one query into `out`, counts it and logs it when query_log is on; 0 = drop.
  size_t handle(const uint8_t* in, size_t len, const sockaddr* client, bool tcp, uint8_t* out, size_t cap);

  void adopt(int fd, const sockaddr_storage& peer);  // an accepted TCP connection
  void close(TcpConnection* c);
  void drain();

  core::EventLoop& loop;
  DnsMetrics& metrics;
  std::shared_ptr<const DnsConfig> cfg;
  std::shared_ptr<const DnsHealth> health;  // bound for cfg; never null
  Rng rng;
  Query query;
  bool draining = false;
  std::unordered_set<TcpConnection*> connections;
  // One TCP answer at a time is built here before it is framed into a connection's output.
  std::unique_ptr<uint8_t[]> tcp_answer{new uint8_t[kMaxTcpMessage]};
};

}  // namespace hop::dns
