#include "proxy/h2_downstream.h"

#include "proxy/exchange.h"

namespace hop::proxy {

H2Downstream::H2Downstream(WorkerContext& ctx, transport::ClientSocket sock, const core::Address& peer,
                           std::shared_ptr<const Snapshot> snap, size_t listener_index, std::string_view preread)
    : ctx_(ctx), snap_(std::move(snap)), listener_index_(listener_index), peer_ip_(peer.host()),
      scheme_(sock.is_tls() ? "https" : "http") {
  ctx_.link(this);
  const auto& l = snap_->config->listeners[listener_index_];
  h2::ServerSettings settings;
  settings.h2 = l.http2;
  settings.header_timeout = l.timeouts.header_read;
  settings.idle_timeout = l.timeouts.idle;
  settings.stats = snap_->listener_stats[listener_index_][ctx_.index];
  conn_ = std::make_unique<h2::ServerConnection>(ctx_.loop, std::move(sock), peer_ip_, settings, *this, preread);
  if (ctx_.draining) conn_->drain();
}

std::unique_ptr<http::StreamHandler> H2Downstream::open_stream(http::StreamSink& sink) {
  rebind_listener(ctx_.snapshot, snap_, listener_index_);
  return std::make_unique<Exchange>(ctx_, snap_, listener_index_, peer_ip_, scheme_, "HTTP/2", sink);
}

void H2Downstream::connection_closed() {
  ctx_.unlink(this);
  ctx_.loop.defer([self = this] { delete self; });
}

}  // namespace hop::proxy
