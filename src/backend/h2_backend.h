// The built-in backend over HTTP/2 (h2c with prior knowledge): the h2 codec with a
// BackendStream per request, answering as the HTTP/1.1 side does (response_plan.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "backend/backend_connection.h"
#include "h2/server_connection.h"

namespace hop::backend {

class H2Backend final : public h2::ServerOwner {
 public:
  H2Backend(BackendContext& ctx, int fd, std::string peer_ip, std::string_view preread);
  std::unique_ptr<http::StreamHandler> open_stream(http::StreamSink& sink) override;
  void connection_closed() override;
  void drain() { conn_->drain(); }
  void abort() { conn_->abort(); }

 private:
  BackendContext& ctx_;
  std::string peer_ip_;
  std::unique_ptr<h2::ServerConnection> conn_;
};

}  // namespace hop::backend
