// A DNS-over-TCP connection (RFC 7766): length-prefixed messages, pipelined queries answered
// in order, idle timeout, bounded input and output.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "core/event_loop.h"

namespace hop::dns {

class ServerContext;

class TcpConnection final : public core::IoHandler {
 public:
  TcpConnection(ServerContext& ctx, int fd, const sockaddr_storage& peer);
  ~TcpConnection();
  bool register_with_loop();
  void on_io(uint32_t events) override;
  // Stop taking new queries: close once what was received is answered and flushed.
  void drain();

 private:
  void read_and_answer();
  bool answer_buffered();  // false when output is over its bound: reading pauses
  bool flush();            // false when the connection died
  void close();

  ServerContext& ctx_;
  int fd_;
  sockaddr_storage peer_;
  std::vector<uint8_t> in_;
  size_t in_start_ = 0;
  std::string out_;
  size_t out_start_ = 0;
  core::Timer idle_;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace hop::dns
