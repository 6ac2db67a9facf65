// An HTTP/2 client connection of a proxy listener: the h2 codec with one Exchange per
// stream. Holds the snapshot the connection serves with, moving to the newest one between
// streams while its listener exists.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "h2/server_connection.h"
#include "transport/client_socket.h"
#include "proxy/snapshot.h"
#include "proxy/worker_context.h"

namespace hop::proxy {

class H2Downstream final : public DownstreamConnection, public h2::ServerOwner {
 public:
  // `preread`: bytes already read (the h2c preface the HTTP/1.1 codec recognised).
  H2Downstream(WorkerContext& ctx, transport::ClientSocket sock, const core::Address& peer, std::shared_ptr<const Snapshot> snap,
               size_t listener_index, std::string_view preread);

  void drain() override { conn_->drain(); }
  void abort() override { conn_->abort(); }
  std::unique_ptr<http::StreamHandler> open_stream(http::StreamSink& sink) override;
  void connection_closed() override;

 private:
  WorkerContext& ctx_;
  std::shared_ptr<const Snapshot> snap_;
  size_t listener_index_;
  std::string peer_ip_;
  std::string_view scheme_;
  std::unique_ptr<h2::ServerConnection> conn_;
};

}  // namespace hop::proxy
