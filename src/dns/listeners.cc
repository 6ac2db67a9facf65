#include "dns/listeners.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

#include "dns/server_context.h"

namespace hop::dns {

namespace {
constexpr unsigned kBatch = 32;
// Queries are small; a datagram larger than this is not a query we would answer anyway
// (MSG_TRUNC tells us) and is dropped.
constexpr size_t kMaxUdpQuery = 4096;
constexpr size_t kMaxUdpAnswer = 4096;  // dns.udp_payload's upper bound
// Batches per readiness event, so a UDP flood cannot starve TCP clients on the same worker;
// the socket is level-triggered and reports again on the next loop iteration.
constexpr int kBatchesPerWake = 8;
}  // namespace

struct UdpListener::Batch {
  mmsghdr in[kBatch];
  iovec in_iov[kBatch];
  sockaddr_storage peers[kBatch];
  uint8_t queries[kBatch][kMaxUdpQuery];
  mmsghdr out[kBatch];
  iovec out_iov[kBatch];
  uint8_t answers[kBatch][kMaxUdpAnswer];
};

UdpListener::UdpListener(ServerContext& ctx, int fd, core::Address addr)
    : ctx_(ctx), fd_(fd), addr_(addr), configured_(addr), batch_(new Batch) {
  ctx_.loop.add(fd_, this, EPOLLIN);
}

UdpListener::~UdpListener() { close(); }

void UdpListener::close() {
  if (fd_ < 0) return;
  ctx_.loop.remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

void UdpListener::on_io(uint32_t events) {
  if (fd_ < 0) return;
  Batch& b = *batch_;
  for (int round = 0; round < kBatchesPerWake; ++round) {
    for (unsigned i = 0; i < kBatch; ++i) {
      b.in_iov[i] = {b.queries[i], kMaxUdpQuery};
      b.in[i].msg_hdr = msghdr{};
      b.in[i].msg_hdr.msg_name = &b.peers[i];
      b.in[i].msg_hdr.msg_namelen = sizeof b.peers[i];
      b.in[i].msg_hdr.msg_iov = &b.in_iov[i];
      b.in[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd_, b.in, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    unsigned out = 0;
    for (int i = 0; i < n; ++i) {
      if (b.in[i].msg_hdr.msg_flags & MSG_TRUNC) {
        ctx_.metrics.count_dropped();
        continue;
      }
      const auto* peer = reinterpret_cast<const sockaddr*>(&b.peers[i]);
      size_t len = ctx_.handle(b.queries[i], b.in[i].msg_len, peer, false, b.answers[out], kMaxUdpAnswer);
      if (len == 0) continue;
      b.out_iov[out] = {b.answers[out], len};
      b.out[out].msg_hdr = msghdr{};
      b.out[out].msg_hdr.msg_name = &b.peers[i];
      b.out[out].msg_hdr.msg_namelen = b.in[i].msg_hdr.msg_namelen;
      b.out[out].msg_hdr.msg_iov = &b.out_iov[out];
      b.out[out].msg_hdr.msg_iovlen = 1;
      ++out;
    }
    for (unsigned sent = 0; sent < out;) {
      int s = ::sendmmsg(fd_, b.out + sent, out - sent, MSG_DONTWAIT);
      if (s <= 0) {
        // A full socket buffer drops answers like the network would; the client retries.
        if (s < 0 && errno == EINTR) continue;
        break;
      }
      sent += unsigned(s);
    }
    if (unsigned(n) < kBatch) return;
  }
}

TcpListener::TcpListener(ServerContext& ctx, int fd, core::Address addr)
    : ctx_(ctx), fd_(fd), addr_(addr), configured_(addr), resume_(ctx.loop, [this] {
        if (fd_ >= 0) ctx_.loop.modify(fd_, this, EPOLLIN);
      }) {
  ctx_.loop.add(fd_, this, EPOLLIN);
}

TcpListener::~TcpListener() { close(); }

void TcpListener::close() {
  if (fd_ < 0) return;
  ctx_.loop.remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

void TcpListener::on_io(uint32_t) {
  if (fd_ < 0) return;
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        ctx_.loop.modify(fd_, this, 0);
        resume_.arm(core::Millis(100));
      }
      return;  // EAGAIN: level-triggered, we will be told again
    }
    core::set_nodelay(fd);
    ctx_.adopt(fd, peer);
  }
}

}  // namespace hop::dns
