// A listening socket handed from the control thread (which binds, so errors surface before
// anything starts) to the worker that will accept on it. With SO_REUSEPORT every worker
// has its own socket for the same address and the kernel spreads connections.
#pragma once

#include <string>

#include "core/socket.h"

namespace hop::server {

enum class ListenerKind { kHttp, kBackend };

struct ListenerSocket {
  ListenerKind kind = ListenerKind::kHttp;
  std::string name;  // listener or backend name
  core::Address address;
  int fd = -1;

  std::string key() const { return std::string(kind == ListenerKind::kHttp ? "http/" : "backend/") + name + "/" + address.to_string(); }
};

}  // namespace hop::server
