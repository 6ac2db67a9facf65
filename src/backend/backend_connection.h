// The built-in origin (`hop backend`, and `backends:` in a config): echoes requests as
// JSON and serves /status/N, /delay/MS, /bytes/N and /health. It shares hop's event loop
// and HTTP/1.1 parser and keeps per-request work small, so that in a benchmark it is never
// the bottleneck.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/socket.h"
#include "http/chunked.h"
#include "backend/response_plan.h"
#include "http/h1_parser.h"

namespace hop::backend {

struct BackendContext {
  core::EventLoop& loop;
  core::BufferPool& buffers;
  std::string name;
  size_t open_connections = 0;
  bool draining = false;
  int fail_status = 0;  // fault injection: every path but /health answers this
  std::unordered_set<class BackendConnection*> connections;  // for drain
  std::unordered_set<class H2Backend*> h2_connections;       // for drain
};

class BackendConnection final : public core::IoHandler {
 public:
  BackendConnection(BackendContext& ctx, int fd, const core::Address& peer);
  void on_io(uint32_t events) override;
  void drain();
  void abort() { close(); }

 private:
  enum class Phase { kHead, kBody, kDelay, kWriting, kClosed };
  void progress();
  bool read_more();
  bool flush();
  void on_request();
  void respond();
  void close();

  BackendContext& ctx_;
  int fd_;
  std::string peer_ip_;
  core::Buffer in_;
  core::Timer timer_;
  core::Timer resume_;  // continues progress() after a fairness yield
  static constexpr int kMaxSpins = 64;
  Phase phase_ = Phase::kHead;
  bool readable_ = true;
  bool writable_ = true;
  bool eof_ = false;
  bool hup_ = false;
  bool close_after_ = false;
  bool in_progress_ = false;
  http::RequestHead req_;
  http::ChunkedDecoder chunked_;
  uint64_t body_remaining_ = 0;
  uint64_t body_bytes_ = 0;
  std::string out_;
  size_t out_sent_ = 0;
  uint64_t bytes_left_ = 0;  // /bytes/N body still to generate
  ResponsePlan plan_;
  bool first_request_ = true;  // h2c prior knowledge is only recognised at the start
};

}  // namespace hop::backend
