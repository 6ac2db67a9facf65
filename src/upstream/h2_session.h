// HTTP/2 to upstream hosts (nghttp2 client sessions), over TLS (ALPN h2) or cleartext
// (h2c, prior knowledge). An H2Pool holds one worker's sessions to one host and multiplexes
// requests onto them: a request gets a stream on the least-loaded session that is below the
// peer's SETTINGS_MAX_CONCURRENT_STREAMS and hop's own cap, and a new connection opens when
// all are full. Like UpstreamPool it has a bounded queue, obeys the cluster's circuit
// breakers and belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/headers.h"
#include "stats/registry.h"
#include "upstream/pool.h"
#include "upstream/shared_state.h"

namespace hop::tls {
class ClientContext;
}

namespace hop::upstream {

class H2Session;

// One request's side of an upstream stream (the proxy's Exchange implements it).
class H2StreamUser {
 public:
  // A stream slot on `s` is reserved for this user: call s.submit() now. fresh = the
  // session's connection was opened for this wait.
  virtual void on_h2_ready(H2Session& s, bool fresh) = 0;
  virtual void on_h2_failure(PoolFailure why, int error) = 0;
  // Response head (1xx are not passed on), data, trailers, end; views valid for the call.
  virtual void on_h2_headers(int status, const http::HeaderPairs& headers, bool end_stream) = 0;
  virtual void on_h2_data(const uint8_t* data, size_t len) = 0;
  virtual void on_h2_trailers(const http::HeaderPairs& trailers) = 0;
  virtual void on_h2_end() = 0;
  // The stream died before it ended. refused: the peer never processed it (REFUSED_STREAM,
  // or GOAWAY with a last-stream-id below it) — safe to retry whatever the method.
  virtual void on_h2_reset(bool refused) = 0;
  // Pulls request body bytes for DATA frames: returns bytes copied; 0 with eof=false
  // means "none yet" (the user calls H2Session::resume_body when it has more).
  virtual size_t h2_request_body(uint8_t* buf, size_t len, bool& eof) = 0;

 protected:
  ~H2StreamUser() = default;

 private:
  friend class H2Pool;
  H2StreamUser* wprev_ = nullptr;
  H2StreamUser* wnext_ = nullptr;
  bool queued_ = false;
};

class H2Session {
 public:
  // Opens a stream for the user's request. `headers` holds the pseudo-headers first
  // (":method", ":scheme", ":authority", ":path") then regular fields, names lowercase.
  // has_body=false ends the stream with the HEADERS frame. Returns the stream id, or -1
  // (the session cannot take it: the user should treat it as a reset, refused).
  virtual int32_t submit(H2StreamUser& user, const http::HeaderPairs& headers, bool has_body) = 0;
  // The user has more request body (after h2_request_body returned 0 without eof).
  virtual void resume_body(int32_t stream) = 0;
  // The user passed n response bytes on downstream: credit the stream's window.
  virtual void consume(int32_t stream, size_t n) = 0;
  // The user gives up the stream (client went away, timeout): RST_STREAM(CANCEL). No
  // callbacks for this stream afterwards.
  virtual void cancel(int32_t stream) = 0;
  virtual uint64_t streams_opened() const = 0;  // > 1 means this request reused the connection

 protected:
  ~H2Session() = default;
};

class H2Pool {
 public:
  // tls may be null (h2c). server_name: what SNI/verification use (see ClientContext).
  H2Pool(core::EventLoop& loop, core::BufferPool& buffers, core::Address address, std::string name,
         std::string server_name, config::PoolConfig cfg, const config::UpstreamHttp2Config& http2,
         stats::ClusterStats* stats, std::shared_ptr<const tls::ClientContext> tls);
  ~H2Pool();

  void set_breakers(std::shared_ptr<ClusterShared> shared, const config::CircuitBreakers& breakers);
  // Calls back on_h2_ready / on_h2_failure — possibly before returning.
  void acquire(H2StreamUser& u);
  void cancel(H2StreamUser& u);  // a queued user gives up

  void update(const config::PoolConfig& cfg, stats::ClusterStats* stats);
  // After a reload: the cluster's new TLS context, for sessions opened from now on (open
  // ones keep theirs), and its http2 settings (the stream cap and keepalive apply to open
  // sessions at once).
  void set_tls(std::shared_ptr<const tls::ClientContext> tls, std::string server_name);
  void set_http2(const config::UpstreamHttp2Config& http2);
  void drain();  // no new streams; sessions close when their streams end
  bool idle_and_empty() const;
  size_t total_connections() const;
  size_t pending() const;
  // The host chose HTTP/1.1 by ALPN: requests of an `auto` cluster use its HTTP/1.1 pool.
  bool http1_only() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hop::upstream
