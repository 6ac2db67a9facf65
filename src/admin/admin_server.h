// The admin listener, on the control thread: /metrics, /ready, /clusters, /config. Small,
// one response per connection, bounded request size: it must keep answering while the
// data plane is overloaded, and never touch a worker's state except through atomics.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include "core/event_loop.h"
#include "core/socket.h"

namespace hop::admin {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using AdminHandler = std::function<AdminResponse(std::string_view method, std::string_view path)>;

class AdminServer final : public core::IoHandler {
 public:
  AdminServer(core::EventLoop& loop, AdminHandler handler);
  ~AdminServer();
  bool listen(const core::Address& addr, std::string& error);
  void on_io(uint32_t events) override;
  void close_listener();

 private:
  class Connection;
  core::EventLoop& loop_;
  AdminHandler handler_;
  int fd_ = -1;
  std::unordered_set<Connection*> connections_;
};

}  // namespace hop::admin
