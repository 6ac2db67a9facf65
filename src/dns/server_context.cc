#include "dns/server_context.h"

#include <netinet/in.h>
#include <unistd.h>

#include <random>

#include <spdlog/spdlog.h>

#include "core/socket.h"
#include "dns/rdata_text.h"
#include "dns/tcp_connection.h"

namespace hop::dns {

ServerContext::ServerContext(core::EventLoop& l, DnsMetrics& m)
    : loop(l), metrics(m), rng((uint64_t(std::random_device{}()) << 32) | std::random_device{}()) {}

ServerContext::~ServerContext() {
  for (auto* c : connections) delete c;
}

size_t ServerContext::handle(const uint8_t* in, size_t len, const sockaddr* client, bool tcp, uint8_t* out,
                             size_t cap) {
  AnswerInfo info;
  size_t n = answer_query(*cfg, *health, in, len, client, tcp, rng, query, out, cap, info);
  if (info.dropped) {
    metrics.count_dropped();
    return 0;
  }
  metrics.count_query(info.qtype, info.rcode, info.decision, tcp, info.truncated, info.referral, info.wildcard);
  if (cfg->query_log) {
    core::Address a;
    a.len = client->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    std::memcpy(&a.storage, client, a.len);
    spdlog::info("dns query client={} proto={} name={} type={} rcode={} policy={}{}{}{}", a.to_string(),
                 tcp ? "tcp" : "udp", query.question_ok ? name_to_text(query.qname.view()) : "-",
                 type_to_text(info.qtype), info.rcode, decision_name(info.decision), info.truncated ? " tc" : "",
                 info.referral ? " referral" : "", info.wildcard ? " wildcard" : "");
  }
  return n;
}

void ServerContext::adopt(int fd, const sockaddr_storage& peer) {
  if (draining || connections.size() >= cfg->tcp_max_connections) {
    metrics.count_tcp_rejected();
    ::close(fd);
    return;
  }
  auto* c = new TcpConnection(*this, fd, peer);
  connections.insert(c);
  if (!c->register_with_loop()) {
    close(c);
    return;
  }
  c->on_io(0);  // data may already be waiting; edge-triggered epoll would not say so again
}

void ServerContext::close(TcpConnection* c) {
  if (connections.erase(c) == 0) return;
  // The connection's method may still be on the stack: destroy it after this iteration.
  loop.defer([c] { delete c; });
}

void ServerContext::drain() {
  draining = true;
  std::vector<TcpConnection*> open(connections.begin(), connections.end());
  for (auto* c : open) c->drain();
}

}  // namespace hop::dns
