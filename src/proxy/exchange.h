// One request from a multiplexed downstream (an HTTP/2 stream; HTTP/3 later) through
// router → cluster → pool → upstream, and its response back. The downstream codec feeds the
// request in (head, body bytes, end) and pulls the response out (head through the sink,
// body with read_body); the exchange owns everything between: routing, host choice,
// retries, timeouts, breakers, outlier reports, metrics and the access log.
//
// HTTP/1.1 downstream connections do not use this class: HttpConnection relays their bytes
// with zero copies, which a message interface cannot.
//
// Memory is bounded: the request body waits in req_body_ only up to what the downstream's
// flow-control window allows (the codec credits the window back as the exchange reports
// bytes consumed), and the response body buffer stops reading the upstream when full.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/event_loop.h"
#include "http/chunked.h"
#include "http/h1_parser.h"
#include "http/stream.h"
#include "proxy/attempts.h"
#include "proxy/retry.h"
#include "upstream/outlier_detector.h"
#include "proxy/worker_context.h"
#include "upstream/h2_session.h"
#include "upstream/pool.h"

namespace hop::proxy {

using http::HeaderPairs;

struct ExchangeLimits {
  size_t response_buffer = 64 * 1024;  // response body bytes held for a slow client
};

class Exchange final : public http::StreamHandler,
                       public upstream::PoolWaiter,
                       public upstream::UpstreamUser,
                       public upstream::H2StreamUser {
 public:
  // protocol: what the client speaks, for the access log ("HTTP/2").
  Exchange(WorkerContext& ctx, std::shared_ptr<const Snapshot> snap, size_t listener_index, std::string_view peer_ip,
           std::string_view scheme, std::string_view protocol, http::StreamSink& sink);
  ~Exchange() override;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // http::StreamHandler: the request in, the response out.
  void set_method(std::string_view v) override { method_.assign(v); }
  void set_path(std::string_view v) override { path_.assign(v); }
  void set_authority(std::string_view v) override { authority_.assign(v); }
  void add_header(std::string_view name, std::string_view value) override;
  void set_content_length(uint64_t n) override {
    content_length_ = n;
    has_content_length_ = true;
  }
  void set_head_bytes(size_t n) override { head_bytes_ = n; }
  void start(bool end_stream) override;  // routes and sends
  void reject(int status, std::string_view body) override;
  void push_body(const uint8_t* data, size_t len) override;
  void end_body() override;
  void cancel() override;  // frees the upstream; logs 499 unless the response completed
  // cancel() for a reason of the client connection's own (its idle timeout): logged with it.
  void abandon(const char* hop_error) {
    if (!logged_) hop_error_ = hop_error;
    cancel();
  }
  size_t read_body(uint8_t* buf, size_t len, bool& eof) override;
  const http::Trailers& trailers() const override { return trailers_; }
  // Request body bytes received and not yet sent upstream (HTTP/1.1 clients have no
  // window: their connection stops reading above a bound).
  // The client's codec has already counted this request in the listener's stats.
  void set_counted() { counted_by_codec_ = true; }
  // The client took bytes of this response from its connection's own buffer: the response
  // is moving even though nothing was read from the exchange (its idle timer's measure).
  void touch() { last_progress_ = ctx_.loop.now(); }
  size_t buffered_request_body() const { return req_body_.size() - req_body_sent_; }

  // UpstreamUser / PoolWaiter (HTTP/1.1 upstream).
  void on_upstream_io(upstream::UpstreamConnection& c, uint32_t events) override;
  void on_pool_ready(upstream::UpstreamConnection& c, bool fresh) override;
  void on_pool_failure(upstream::PoolFailure why, int error) override;
  // H2StreamUser (HTTP/2 upstream).
  void on_h2_ready(upstream::H2Session& s, bool fresh) override;
  void on_h2_failure(upstream::PoolFailure why, int error) override;
  void on_h2_headers(int status, const HeaderPairs& headers, bool end_stream) override;
  void on_h2_data(const uint8_t* data, size_t len) override;
  void on_h2_trailers(const HeaderPairs& trailers) override;
  void on_h2_end() override;
  void on_h2_reset(bool refused) override;
  size_t h2_request_body(uint8_t* buf, size_t len, bool& eof) override;

 private:
  enum class Phase : uint8_t { kNew, kWaitingUpstream, kBackoff, kProxying, kResponding, kDone };

  void dispatch(const config::Route& route);
  const upstream::Cluster& cluster() const;
  void report(upstream::Outcome outcome);  // to outlier detection, for the current host
  void start_attempt();
  void progress();
  bool pump_request();
  bool pump_response();
  bool handle_response_head();
  void deliver_head(int status, const HeaderPairs& headers, bool end_stream);
  void response_done();
  void upstream_failed(int status, const char* hop_error, bool retryable_reset);
  bool retry(FailureKind kind, int status);
  void on_try_timeout();
  void on_timer();
  void local_reply(int status, std::string_view body, const char* hop_error, std::string_view location = {},
                   std::string_view content_type = "text/plain");
  void release_upstream(bool reusable);
  void remember_for_replay(std::string_view sent);
  void build_h1_head();
  void finish();  // metrics and access log, once
  const config::Listener& listener() const;
  bool upstream_is_h2() const;
  size_t response_room() const;

  WorkerContext& ctx_;
  std::shared_ptr<const Snapshot> snap_;
  size_t listener_index_;
  std::string peer_ip_;
  std::string_view scheme_;
  std::string_view protocol_;
  http::StreamSink& sink_;
  Phase phase_ = Phase::kNew;

  // Request.
  std::string method_, path_, authority_;
  std::string norm_target_;  // the normalized path and query (request_path.h)
  std::string arena_;  // header names and values, back to back
  std::vector<std::pair<uint32_t, uint32_t>> fields_;  // name offset, value offset into arena_
  std::vector<uint32_t> lens_;                         // name len, value len pairs
  std::string cookie_;  // h2 splits Cookie into fields; HTTP/1.1 wants one line (RFC 9113 §8.2.3)
  http::RequestHead req_;  // views into the strings above, for the router and head writer
  uint64_t content_length_ = 0;
  bool has_content_length_ = false;
  size_t head_bytes_ = 0;
  bool req_body_done_ = false;
  std::string req_body_;      // received, not yet sent upstream
  size_t req_body_sent_ = 0;  // of req_body_ (h1: via the socket; h2: via h2_request_body)
  std::string target_;       // path after the route's prefix_rewrite
  std::string traceparent_;  // generated when the client sent none
  std::string xff_;
  std::string up_head_;
  size_t up_head_sent_ = 0;
  std::string chunk_frame_;   // chunk header or trailer for the HTTP/1.1 upstream
  size_t chunk_frame_sent_ = 0;
  bool body_end_framed_ = false;
  std::string replay_;
  bool replay_ok_ = true;
  size_t replay_pos_ = 0;     // of replay_ already resent on this attempt

  // Routing and attempts.
  const config::Route* route_ = nullptr;
  UpstreamAttempts att_;
  upstream::UpstreamPool* pool_ = nullptr;
  upstream::UpstreamConnection* up_ = nullptr;   // HTTP/1.1 upstream
  upstream::H2Pool* h2pool_ = nullptr;
  upstream::H2Session* h2_ = nullptr;            // HTTP/2 upstream session carrying our stream
  int32_t stream_id_ = -1;
  bool h2_ended_ = false;                        // the upstream stream is over (no cancel needed)
  bool up_readable_ = false, up_writable_ = false, up_hup_ = false;
  bool interim_seen_ = false;  // this attempt got a 1xx from its HTTP/1.1 upstream
  bool up_write_failed_ = false;  // the upstream refused more of the request: only reading now

  // Response.
  http::ResponseHead resp_;
  http::ChunkedDecoder resp_chunked_{8 * 1024, /*keep_trailers=*/true};
  uint64_t resp_remaining_ = 0;
  bool resp_head_done_ = false;
  bool resp_head_partial_ = false;
  bool resp_started_ = false;     // the head went to the sink
  bool resp_complete_ = false;    // all body bytes are in resp_body_
  std::string resp_body_;
  size_t resp_body_read_ = 0;
  http::Trailers trailers_;
  int status_ = 0;
  const char* hop_error_ = "";
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  bool logged_ = false;
  bool counted_by_codec_ = false;

  core::Timer timer_;        // request timeout, then idle timeout on progress
  core::Timer try_timer_;    // per-try timeout
  core::Timer retry_timer_;  // backoff
  core::Timer resume_;       // continue progress() outside the codec's callbacks
  core::TimePoint t_start_{}, t_connect_start_{}, t_sent_{}, last_progress_{};
  bool in_progress_ = false;
  ExchangeLimits limits_;
};

}  // namespace hop::proxy
