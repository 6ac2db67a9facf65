// Addresses and the few socket calls every subsystem needs. Errors are values: a function
// that can fail returns a negative fd or an empty optional and leaves errno set.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hop::core {

struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  std::string host() const;      // "127.0.0.1" or "::1"
  std::string to_string() const; // "127.0.0.1:80" or "[::1]:80"
  bool operator==(const Address& o) const;

  // Parses a numeric "IPv4:port" or "[IPv6]:port". Names are not resolved here.
  static std::optional<Address> parse(std::string_view text);
  static std::optional<Address> from_ip(std::string_view ip, uint16_t port);
};

// Splits "host:port" / "[v6]:port"; false when the port is missing or out of range.
bool split_host_port(std::string_view text, std::string& host, uint16_t& port);

enum class SocketKind { kStream, kDatagram };

// A non-blocking, close-on-exec listening (or bound UDP) socket with SO_REUSEADDR and,
// when reuse_port is set, SO_REUSEPORT so each worker can own one and the kernel spreads
// connections between them.
int listen_socket(const Address& addr, SocketKind kind, bool reuse_port, int backlog = 4096);
// Starts a non-blocking connect; returns the fd (connect may still be in progress).
int connect_socket(const Address& addr);
void set_nodelay(int fd);
// TCP_DEFER_ACCEPT on a listening socket: accept() returns a connection only once data has
// arrived on it, or after about `seconds` (0 turns it off).
void set_defer_accept(int fd, int seconds);
int socket_error(int fd);  // SO_ERROR
std::optional<Address> local_address(int fd);

}  // namespace hop::core
