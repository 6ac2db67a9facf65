#include "server/tls_accept.h"

#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
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
  core::set_nodelay(fd);
  SSL* ssl = tls_->new_ssl(fd);
  if (!ssl) {
    ::close(fd);
    done_ = true;
    ctx_.unlink(this);
    ctx_.loop.defer([self = this] { delete self; });
    return;
  }
  sock_ = proxy::ClientSocket(fd, std::make_unique<tls::TlsStream>(ssl));
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
  step();
}

void TlsAccept::step() {
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
  bool h2 = sock_.tls()->alpn() == "h2";
  // The codec re-registers the socket with itself; bytes OpenSSL already decrypted are
  // found through ClientSocket::pending().
  if (h2) new proxy::H2Downstream(ctx_, std::move(sock_), peer_, snap_, listener_index_, {});
  else (new proxy::HttpConnection(ctx_, std::move(sock_), peer_, listener_index_))->start();
  ctx_.loop.defer([self = this] { delete self; });
}

void TlsAccept::close() {
  if (done_) return;
  done_ = true;
  timer_.cancel();
  sock_.close();
  ctx_.unlink(this);
  ctx_.loop.defer([self = this] { delete self; });
}

}  // namespace hop::server
