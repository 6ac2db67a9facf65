// One downstream HTTP/1.1 connection and the request it is serving. Requests on a
// connection are handled one at a time (pipelined ones wait in the input buffer), which
// answers them in order by construction. The state for one request lives here and is
// reused, so a keep-alive connection allocates nothing per request once warm.
//
// Bytes flow client → in_ → upstream socket, and upstream socket → upstream buffer →
// client socket. Each direction has one bounded buffer; when the receiving side cannot
// take more, hop stops reading the sending side (backpressure), so memory per request is
// flat whatever the body size.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/buffer.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "core/pipe_pool.h"
#include "core/socket.h"
#include "http/chunked.h"
#include "http/h1_parser.h"
#include "transport/client_socket.h"
#include "proxy/exchange.h"
#include "proxy/attempts.h"
#include "proxy/retry.h"
#include "upstream/outlier_detector.h"
#include "http/stream.h"
#include "proxy/worker_context.h"
#include "upstream/pool.h"

namespace hop::proxy {

class HttpConnection final : public core::IoHandler,
                             public DownstreamConnection,
                             public upstream::PoolWaiter,
                             public upstream::UpstreamUser {
 public:
  // `sock` is a fresh accept or comes from a finished TLS handshake (then on the loop).
  HttpConnection(WorkerContext& ctx, transport::ClientSocket sock, const core::Address& peer, size_t listener_index);
  ~HttpConnection();
  // Reads the first request at once: it is usually there already, and the socket joins the
  // event loop only when the connection has to wait for its client (see waits_on_client).
  void start() { progress(); }

  void on_io(uint32_t events) override;
  void on_upstream_io(upstream::UpstreamConnection& c, uint32_t events) override;
  void on_pool_ready(upstream::UpstreamConnection& c, bool fresh) override;
  void on_pool_failure(upstream::PoolFailure why, int error) override;

  // The worker is shutting down: close now if no request is in flight, else after it.
  void drain() override;
  // Closes at once, whatever is in flight (drain deadline passed).
  void abort() override { close(); }

 private:
  enum class Phase : uint8_t {
    kIdle,            // keep-alive, waiting for the next request's first byte
    kReadingHead,     // some of a request head has arrived
    kWaitingUpstream, // routed, waiting for a pool connection
    kBackoff,         // waiting to retry
    kProxying,        // request and response flowing
    kLocalReply,      // writing a response hop made itself
    kLingering,       // response sent, draining the client's unread bytes before close
    kExchange,        // served through an Exchange (an HTTP/2 upstream): see exchange_sink_
    kTunnel,          // after 101 Switching Protocols: bytes both ways (http_tunnel.cc)
    kClosed,
  };

  void progress();
  bool read_downstream();
  bool flush_downstream();
  // True when the bytes about to be written (queued output plus `raw_len` body bytes from
  // the upstream buffer) are the end of the response.
  bool write_ends_response(size_t raw_len) const;
  void on_head_parsed();
  void dispatch();
  void start_attempt();
  bool pump_request();
  bool pump_response();
  // Large Content-Length bodies between cleartext sockets go upstream → pipe → client with
  // splice(2), never through user space (listener `splice`, bodies of kSpliceMinBody up).
  static constexpr uint64_t kSpliceMinBody = 64 * 1024;
  static constexpr int kSpliceRoundsPerTurn = 16;  // ≤ 4 MiB (16 pipe-fulls) before yielding
  bool can_splice() const;
  bool pump_spliced(bool moved);
  void end_splice();
  bool handle_response_head();
  // WebSocket: a GET asking to upgrade to it, without a body, from an HTTP/1.1 client, is
  // passed on with its Upgrade; a 101 answer turns the connection into a tunnel.
  void start_tunnel();
  bool pump_tunnel();
  void end_tunnel();
  void response_complete();
  void finish_request();
  void log_request();  // metrics and access log, once per request
  void upstream_failed(int status, const char* hop_error, bool retryable_reset);
  // Schedules another attempt if the route's policy, the method, the replay copy and the
  // cluster's retry budget all allow it; true when it did.
  bool retry(FailureKind kind, int status);
  void on_try_timeout();
  const upstream::Cluster& cluster() const;
  void report(upstream::Outcome outcome);  // to outlier detection, for the current host
  bool encode_chunked_body();
  void remember_for_replay(std::string_view taken);  // body bytes taken from the client
  void reply_with_error(int status, const char* hop_error);
  void local_reply(int status, std::string_view body, std::string_view hop_error, bool close,
                   std::string_view location = {}, std::string_view content_type = "text/plain");
  void release_upstream(bool reusable);
  void arm_request_timeout();
  void arm_try_timer();
  bool whole_request_in_hop() const;
  void on_timer();
  // For the timer: true when `idle` has passed with no bytes moved, else re-armed for the rest.
  bool idle_expired(core::Millis idle);
  void close();
  void linger();
  // After the last response: close at once when the client will send nothing more, else
  // linger.
  void end_connection();
  // True when the connection cannot go on without an event from its client socket.
  bool waits_on_client() const;
  void watch_client();
  const config::Listener& listener() const;
  std::string build_server_timing() const;

  WorkerContext& ctx_;
  // True when the buffered bytes are (the start of) an HTTP/2 connection preface: the
  // connection is handed to the HTTP/2 codec (h2c with prior knowledge).
  bool h2c_preface();
  void hand_over_to_h2();

  // HTTP/1.1 client, HTTP/2 upstream: the request goes through an Exchange (the same path
  // as HTTP/2 clients) and this connection frames its response as HTTP/1.1.
  bool route_needs_exchange() const;
  void start_exchange(std::string_view authority);
  bool pump_exchange();
  void exchange_head(int status, const http::HeaderPairs& headers, bool end_stream);
  void exchange_done();
  struct ExchangeBridge final : http::StreamSink {
    explicit ExchangeBridge(HttpConnection& c) : conn(c) {}
    void on_response_head(int status, const http::HeaderPairs& headers, bool end_stream) override {
      conn.exchange_head(status, headers, end_stream);
    }
    void on_response_data() override { conn.resume_.arm(core::Millis(0)); }
    void on_stream_reset() override {
      conn.exchange_failed_ = true;
      conn.resume_.arm(core::Millis(0));
    }
    void on_request_body_consumed(size_t) override { conn.resume_.arm(core::Millis(0)); }
    HttpConnection& conn;
  };
  ExchangeBridge exchange_sink_{*this};
  std::unique_ptr<Exchange> exchange_;
  bool exchange_chunked_ = false;  // the response is framed with chunked encoding
  bool exchange_eof_ = false;
  bool exchange_failed_ = false;

  transport::ClientSocket sock_;
  bool first_request_ = true;  // h2c prior knowledge is only recognised at the start
  bool proxy_header_pending_ = false;  // the listener expects a PROXY header first, not yet read
  // Reads the PROXY header; false when the connection cannot go on (closed) or needs more.
  bool read_proxy_header(bool& moved);
  core::Address peer_;
  std::string peer_ip_;
  size_t listener_index_;
  std::shared_ptr<const Snapshot> snap_;
  stats::ListenerStats* lstats_;
  Phase phase_ = Phase::kIdle;
  core::Buffer in_;
  core::Timer timer_;
  core::Timer resume_;  // continues progress() after a fairness yield
  static constexpr int kMaxSpins = 64;
  core::Timer try_timer_;    // per-try timeout
  core::Timer retry_timer_;  // backoff before the next attempt
  // A connection off the event loop that waits on its upstream joins the loop after this
  // long, so a client that leaves during a slow response is still noticed (499).
  static constexpr core::Millis kAbortWatchDelay{100};
  core::Timer abort_watch_;
  bool down_readable_ = true;
  bool down_writable_ = true;
  bool down_hup_ = false;  // the client's FIN has been signalled
  bool client_eof_ = false;
  bool client_reset_ = false;  // client_eof_ came from an error (reset), not a FIN
  bool close_after_response_ = false;
  bool client_asked_close_ = false;  // the request said close (or was HTTP/1.0 without keep-alive)
  bool in_progress_ = false;   // re-entrancy guard for progress()
  bool destroyed_ = false;
  bool in_request_ = false;    // a request has started and is not logged yet

  // Downstream output not yet written: heads, chunk framing, local replies.
  std::string down_out_;
  size_t down_out_sent_ = 0;

  // The request in flight.
  http::RequestHead req_;
  http::ChunkedDecoder req_chunked_;
  uint64_t req_body_remaining_ = 0;
  bool req_body_done_ = false;
  std::string method_;  // copies for the access log: req_ views die with the input bytes
  std::string path_;
  std::string norm_target_;   // the normalized path and query, when normalizing changed it
  std::string up_head_;
  size_t up_head_sent_ = 0;
  std::string up_body_;  // re-encoded chunked request body waiting for the upstream
  size_t up_body_sent_ = 0;
  const config::Route* route_ = nullptr;
  UpstreamAttempts att_;  // cluster, host per attempt, breaker and budget slots, timing
  std::string replay_;           // request body bytes taken from the client so far, for a retry (bounded)
  bool replay_ok_ = true;
  upstream::UpstreamConnection* up_ = nullptr;
  upstream::UpstreamPool* pool_ = nullptr;
  bool up_readable_ = false;
  bool up_writable_ = false;
  bool up_hup_ = false;    // the upstream's FIN has been signalled
  bool up_write_failed_ = false;  // the upstream refused more of the request: only reading now
  bool interim_seen_ = false;     // this attempt got a 1xx: the upstream took the request
  bool expect_continue_pending_ = false;
  bool upgrade_ = false;              // the request went upstream with Upgrade: websocket
  bool tunnel_client_shut_ = false;   // tunnel: the upstream's FIN passed on to the client
  bool tunnel_upstream_shut_ = false; // tunnel: the client's FIN passed on to the upstream

  // The response in flight.
  http::ResponseHead resp_;
  http::ChunkedDecoder resp_chunked_{8 * 1024, /*keep_trailers=*/true};
  bool resp_head_done_ = false;
  bool resp_head_partial_ = false;  // buffered bytes are an incomplete head: read first
  bool resp_started_ = false;    // bytes of the response reached the client's buffer
  bool resp_chunked_out_ = false;
  uint64_t resp_body_remaining_ = 0;  // spliced: bytes still to take from the upstream
  core::Pipe pipe_;                   // set while the body is spliced
  size_t pipe_bytes_ = 0;             // taken from the upstream, not yet given to the client
  bool splice_refused_ = false;       // no pipe could be made for this response
  bool response_done_ = false;
  int status_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  const char* hop_error_ = "";

  // Timing.
  core::TimePoint last_progress_{};  // bytes last moved to or from the client
  core::TimePoint t_start_{};
  core::TimePoint t_dispatch_{};
  core::TimePoint t_connect_start_{};
  core::TimePoint t_upstream_sent_{};
  core::TimePoint t_first_byte_{};
};

}  // namespace hop::proxy
