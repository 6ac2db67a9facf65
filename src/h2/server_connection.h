// One server-side HTTP/2 connection (nghttp2 server session), over TLS (ALPN h2) or
// cleartext with prior knowledge (h2c: the HTTP/1.1 codec hands the socket over when it
// sees the connection preface). This class only speaks the protocol — frames in and out,
// flow control, limits, abuse protection; each stream's request goes to a
// http::StreamHandler its owner creates (the proxy's Exchange, the built-in backend).
//
// Output is produced with nghttp2_session_mem_send only while the socket takes it, so a
// client that does not read holds at most one pending chunk here and its streams stop
// pulling response bytes (which stops hop reading their upstreams).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "http/stream.h"
#include "transport/client_socket.h"
#include "stats/registry.h"

namespace hop::h2 {

// Whoever accepted the connection: creates the handler of each stream and learns when the
// connection is gone (and may then free itself, never inside the call).
class ServerOwner {
 public:
  virtual std::unique_ptr<http::StreamHandler> open_stream(http::StreamSink& sink) = 0;
  virtual void connection_closed() = 0;

 protected:
  ~ServerOwner() = default;
};

struct ServerSettings {
  config::Http2Settings h2;
  core::Millis header_timeout{10000};  // preface and first request
  core::Millis idle_timeout{60000};    // no stream open
  stats::ListenerStats* stats = nullptr;  // protocol errors, active connections (may be null)
};

class ServerConnection final : public core::IoHandler {
 public:
  // `preread`: bytes already read from the socket (the h2c preface HTTP/1.1 saw).
  ServerConnection(core::EventLoop& loop, transport::ClientSocket sock, std::string peer_ip, ServerSettings settings,
                   ServerOwner& owner, std::string_view preread);
  ~ServerConnection();

  void on_io(uint32_t events) override;
  // GOAWAY: streams in flight finish, then the connection closes.
  void drain();
  void abort() { close(); }
  bool closed() const { return closed_; }

 private:
  struct Stream;
  friend struct Stream;
  friend struct Callbacks;

  void progress();
  bool read_socket();
  bool write_socket();
  void schedule();  // run progress() soon, outside whatever callback we are in
  void close();
  void on_timer();
  void on_write_stall();
  // Counts a frame pattern that costs hop work and serves nothing (SETTINGS/PING floods,
  // empty DATA, PRIORITY storms, resets). Over the listener's budget: GOAWAY and close.
  void count_abuse(const char* what);
  void goaway(uint32_t error_code);
  Stream* stream(int32_t id);
  void destroy_stream(int32_t id);

  core::EventLoop& loop_;
  transport::ClientSocket sock_;
  std::string peer_ip_;
  ServerSettings settings_;
  ServerOwner& owner_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  std::string preread_;
  std::string out_;          // bytes nghttp2 produced that the socket has not taken yet
  size_t out_sent_ = 0;
  bool readable_ = true;
  bool writable_ = true;
  bool closed_ = false;
  bool owner_told_ = false;
  bool in_progress_ = false;
  bool draining_ = false;
  int32_t last_stream_ = -1;  // highest stream id the client opened
  std::vector<std::pair<int32_t, int32_t>> skipped_;  // stream ids it skipped (closed), bounded
  uint32_t abuse_ = 0;               // abusive frames in the current window
  int32_t last_invalid_stream_ = -1;  // stream of the last invalid frame (its reset is not counted again)
  core::TimePoint abuse_window_{};
  core::Timer timer_;   // preface/idle timeout, drain deadline
  core::Timer resume_;  // deferred progress()
  core::Timer write_stall_;  // output pending and the client takes none of it
};

}  // namespace hop::h2
