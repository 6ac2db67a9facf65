// A DNS-over-TCP connection (RFC 7766): length-prefixed messages, pipelined queries answered
// in order, idle timeout, bounded input and output, and a bounded share of its worker: a
// client streaming queries flat out yields after tcp_max_pipelined answers per wake-up.
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
  void pump();
  bool complete_query_buffered() const;
  bool answer_one();  // answers the first buffered query; false when the connection closed
  bool flush();       // false when the connection died
  size_t pending_out() const { return out_.size() - out_start_; }
  void close();

  ServerContext& ctx_;
  int fd_;
  sockaddr_storage peer_;
  std::vector<uint8_t> in_;
  size_t in_start_ = 0;
  std::string out_;
  size_t out_start_ = 0;
  core::Timer idle_;
  core::Timer resume_;     // fires at once: the next turn of the loop after a yield
  bool eof_ = false;       // the client half-closed: answer what came, then close
  bool draining_ = false;  // the server drains: answer what was read, then close
  bool closed_ = false;
};

}  // namespace hop::dns
