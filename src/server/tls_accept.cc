#include "server/tls_accept.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "core/proxy_header.h"
#include "proxy/h2_downstream.h"
#include "proxy/http_connection.h"
#include "tls/server_context.h"

namespace hop::server {

TlsAccept::TlsAccept(proxy::WorkerContext& ctx, int fd, const core::Address& peer, size_t listener_index,
                     std::shared_ptr<const tls::ServerContext> tls)
    : ctx_(ctx), peer_(peer), listener_index_(listener_index), snap_(ctx.snapshot), tls_(std::move(tls)),
      timer_(ctx.loop, [this] {
        HOP_LOG_DEBUG("tls {}: handshake timeout", peer_.host());
        close();
      }) {
  ctx_.link(this);
  snap_->listener_stats[listener_index_][ctx_.index]->connections_accepted.inc();
  // Open from accept on (max_connections counts handshakes too); the codec that takes the
  // socket over counts it from then. (The block is kept: a reload may rebind snap_.)
  open_count_ = snap_->listener_stats[listener_index_][ctx_.index];
  open_count_->active_connections.add(1);
  core::set_nodelay(fd);
  SSL* ssl = tls_->new_ssl(fd);
  if (!ssl) {
    ::close(fd);
    open_count_->active_connections.add(-1);
    done_ = true;
    ctx_.unlink(this);
    ctx_.loop.defer([self = this] { delete self; });
    return;
  }
  sock_ = transport::ClientSocket(fd, std::make_unique<tls::TlsStream>(ssl));
  proxy_header_pending_ = snap_->config->listeners[listener_index_].proxy_protocol;
  timer_.arm(snap_->config->listeners[listener_index_].timeouts.header_read);
  sock_.watch(ctx_.loop, this);
  step();
}

void TlsAccept::on_io(uint32_t events) {
  if (done_) return;
  if (events & EPOLLERR) {
    close();
    return;
  }
  if (events & (EPOLLRDHUP | EPOLLHUP)) peer_closed_ = true;
  step();
}

void TlsAccept::step() {
  if (proxy_header_pending_ && !read_proxy_header()) return;
  auto st = sock_.tls()->handshake();
  if (st == tls::IoStatus::kWantRead || st == tls::IoStatus::kWantWrite) return;
  if (st != tls::IoStatus::kOk) {
    HOP_LOG_DEBUG("tls {}: handshake failed: {}", peer_.host(), sock_.tls()->error());
    snap_->listener_stats[listener_index_][ctx_.index]->protocol_errors.inc();
    close();
    return;
  }
  if (!proxy::rebind_listener(ctx_.snapshot, snap_, listener_index_) && snap_ != ctx_.snapshot) {
    close();  // the listener was removed by a reload during the handshake
    return;
  }
  done_ = true;
  timer_.cancel();
  ctx_.unlink(this);
  open_count_->active_connections.add(-1);
  bool h2 = sock_.tls()->alpn() == "h2";
  // The codec re-registers the socket with itself; bytes OpenSSL already decrypted are
  // found through ClientSocket::pending().
  if (h2) new proxy::H2Downstream(ctx_, std::move(sock_), peer_, snap_, listener_index_, {});
  else (new proxy::HttpConnection(ctx_, std::move(sock_), peer_, listener_index_))->start();
  ctx_.loop.defer([self = this] { delete self; });
}

// The header comes in cleartext before the ClientHello, often in the same segment, and
// OpenSSL reads the socket itself: so the header is peeked, parsed, and then exactly its
// bytes are taken off the socket, leaving the TLS stream behind it untouched. A partial
// header stays queued; its next bytes raise a new edge. False: wait, or closed.
bool TlsAccept::read_proxy_header() {
  char buf[core::kMaxProxyHeaderLength];
  ssize_t n = ::recv(sock_.fd(), buf, sizeof buf, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  core::ProxyHeader ph;
  auto r = n > 0 ? core::parse_proxy_header(buf, static_cast<size_t>(n), ph) : core::ProxyHeaderResult::kError;
  // (The buffer holds the largest valid header, so a full peek is never incomplete.)
  if (r == core::ProxyHeaderResult::kIncomplete && !peer_closed_) return false;
  if (r == core::ProxyHeaderResult::kOk &&
      ::recv(sock_.fd(), buf, ph.length, 0) != static_cast<ssize_t>(ph.length))
    r = core::ProxyHeaderResult::kError;
  if (r != core::ProxyHeaderResult::kOk) {
    // EOF, a reset, or no (valid) header: closed unanswered, as on a cleartext listener.
    if (n > 0) snap_->listener_stats[listener_index_][ctx_.index]->protocol_errors.inc();
    close();
    return false;
  }
  proxy_header_pending_ = false;
  if (ph.has_source) peer_ = ph.source;
  return true;
}

void TlsAccept::close() {
  if (done_) return;
  done_ = true;
  timer_.cancel();
  sock_.close();
  open_count_->active_connections.add(-1);
  ctx_.unlink(this);
  ctx_.loop.defer([self = this] { delete self; });
}

}  // namespace hop::server
