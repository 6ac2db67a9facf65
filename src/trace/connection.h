// One client connection, TCP and optionally TLS, driven by poll with a deadline on every
// step: a trace must end even when the peer stops answering.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/socket.h"
#include "trace/request_trace.h"
#include "trace/tls_client_context.h"

namespace hop::trace {

class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Tries each address in turn until one accepts; on failure the error names the last one.
  bool connect_tcp(const std::vector<core::Address>& addresses, core::TimePoint deadline,
                   std::string& error);
  // alpn: protocol names in preference order ("h2", "http/1.1"). Offers the context's last
  // session when resume is set. Fills info even when verification fails, so the report can
  // say which certificate was refused.
  bool start_tls(TlsClientContext& tls, const std::string& host,
                 const std::vector<std::string>& alpn, bool resume, core::TimePoint deadline,
                 TlsInfo& info, std::string& error);

  bool write_all(std::string_view data, core::TimePoint deadline, std::string& error);
  // >0 bytes read, 0 orderly close, -1 error or deadline (error says which).
  long read_some(char* buf, size_t len, core::TimePoint deadline, std::string& error);

  bool is_open() const { return fd_ >= 0; }
  bool is_tls() const { return ssl_ != nullptr; }
  const core::Address& remote() const { return remote_; }
  void close();

 private:
  // Waits for the fd to be ready for events; false on deadline (error set).
  bool wait(short events, core::TimePoint deadline, std::string& error, const char* what);

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  core::Address remote_;
};

}  // namespace hop::trace
