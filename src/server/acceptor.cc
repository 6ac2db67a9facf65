#include "server/acceptor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"

namespace hop::server {

Acceptor::Acceptor(core::EventLoop& loop, ListenerSocket sock, OnAccept on_accept, std::function<bool()> at_limit)
    : loop_(loop), sock_(std::move(sock)), on_accept_(std::move(on_accept)), at_limit_(std::move(at_limit)) {
  loop_.add(sock_.fd, this, 0x001 | (1u << 31));  // EPOLLIN | EPOLLET
}

Acceptor::~Acceptor() {
  loop_.remove(sock_.fd);
  ::close(sock_.fd);
}

void Acceptor::on_io(uint32_t) {
  // Edge-triggered: accept until EAGAIN, or until the limit (the rest wait in the backlog
  // and are picked up by resume()).
  for (;;) {
    if (at_limit_()) return;
    core::Address peer;
    peer.len = sizeof peer.storage;
    int fd = ::accept4(sock_.fd, reinterpret_cast<sockaddr*>(&peer.storage), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        HOP_LOG_WARN("accept on {}: out of file descriptors", sock_.address.to_string());
        return;
      }
      return;
    }
    on_accept_(fd, peer);
  }
}

}  // namespace hop::server
