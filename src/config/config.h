// The typed configuration: what the YAML says, validated. Built once per load by the
// control thread and never mutated afterwards; workers hold it through a shared_ptr.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "core/socket.h"
#include "dns/resolver_options.h"
#include "health/check_spec.h"
#include "http/h1_parser.h"
#include "tls/tls_config.h"

namespace hop::dns {
struct DnsConfig;
}

namespace hop::config {

using std::chrono::milliseconds;

struct HeaderMatch {
  enum class Kind { kExact, kPrefix, kRegex, kPresent };
  std::string name;
  Kind kind = Kind::kPresent;
  std::string value;
  std::shared_ptr<const std::regex> regex;
  bool invert = false;
};

struct RouteMatch {
  enum class PathKind { kPrefix, kExact, kRegex };
  PathKind path_kind = PathKind::kPrefix;
  std::string path = "/";
  std::shared_ptr<const std::regex> path_regex;
  std::vector<std::string> methods;  // empty = any
  std::vector<HeaderMatch> headers;
};

struct WeightedCluster {
  std::string name;
  uint32_t weight = 0;
  size_t cluster_index = 0;  // into Config::clusters
};

struct Redirect {
  std::string scheme;  // empty = keep
  std::string host;    // empty = keep
  std::string path;    // empty = keep
  bool strip_query = false;
  int code = 302;
};

struct DirectResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
};

// When and how a route retries (RFC 9110 §9.2.2: only idempotent methods by default).
struct RetryPolicy {
  uint32_t attempts = 0;  // retries after the first try; 0 = none
  bool on_5xx = false;            // any 5xx response
  bool on_gateway_error = false;  // 502, 503, 504
  bool on_connect_failure = false;  // connect refused, failed or timed out
  bool on_refused = false;          // connect refused only
  bool on_reset = false;            // connection closed or reset before any response byte
  bool on_per_try_timeout = false;
  std::vector<int> status_codes;    // retriable-status-codes
  std::optional<milliseconds> per_try_timeout;
  milliseconds backoff_base{25};
  milliseconds backoff_max{250};
  bool retry_non_idempotent = false;
  double budget_percent = 20.0;   // active retries ≤ this % of the cluster's active requests
  uint32_t budget_min = 10;       // ... but this many are always allowed (a burst of first failures)
  uint64_t max_buffered_body = 64 * 1024;  // bodies larger than this are not retried
};

struct Route {
  RouteMatch match;
  enum class Action { kCluster, kSplit, kDirect, kRedirect };
  Action action = Action::kCluster;
  std::vector<WeightedCluster> clusters;  // one for kCluster, several for kSplit
  uint32_t total_weight = 0;
  DirectResponse direct;
  Redirect redirect;
  std::optional<std::string> prefix_rewrite;
  std::optional<milliseconds> timeout;  // overrides the listener's request timeout
  RetryPolicy retries;
};

struct VirtualHost {
  std::string name;
  std::vector<std::string> domains;  // "example.com", "*.example.com", "*"
  std::vector<Route> routes;
};

struct ListenerLimits {
  http::H1Limits h1;
  uint64_t max_connections = 10000;
  uint64_t buffer_size = 16 * 1024;  // per-direction buffer; bounds memory per request
};

struct ListenerTimeouts {
  milliseconds header_read{10000};  // whole request head must arrive within this
  milliseconds idle{60000};         // keep-alive connection with no request in flight
  milliseconds request{15000};      // request sent → response complete, unless the route says
  milliseconds tunnel_idle{3600000};  // an upgraded (WebSocket) connection with no bytes either way
  // TCP_DEFER_ACCEPT (whole seconds, 0 = off): the kernel hands hop a connection only once
  // its first bytes have arrived — an HTTP client speaks first — so the request is read
  // straight after accept, and a connection that says nothing is held by the kernel (no
  // fd, no hop memory) for this long before hop sees it and applies header_read.
  milliseconds defer_accept{1000};
};

// TLS on a listener (`tls:`) and toward a cluster's hosts (the cluster's `tls:`): plain data
// owned by tls/, which builds its contexts from them.
using TlsCertificate = tls::Certificate;
using TlsServerConfig = tls::ServerConfig;
using TlsClientConfig = tls::ClientConfig;

// HTTP/2 on a listener (nghttp2): over TLS by ALPN, and cleartext with prior knowledge.
struct Http2Settings {
  bool enabled = true;                     // offer h2 in ALPN and accept h2c prior knowledge
  uint32_t max_concurrent_streams = 128;
  // Request bodies wait in hop only up to these windows (credited back as they go upstream),
  // so they bound upload memory per stream and per connection.
  uint32_t initial_stream_window = 256 * 1024;
  uint32_t connection_window = 1 << 20;
  uint32_t max_header_list_size = 64 * 1024;      // decoded field bytes; above → 431
  uint32_t max_reset_burst = 1000;                // rapid reset: RST_STREAM token bucket
  uint32_t max_reset_rate = 33;                   // per second
  uint32_t max_continuations = 8;                 // CONTINUATION frames per header block
  uint32_t max_abusive_frames = 1000;             // empty DATA, SETTINGS/PING floods, ... then GOAWAY
};

struct Listener {
  std::string name;
  core::Address address;
  std::string protocol = "http";
  std::vector<VirtualHost> vhosts;
  ListenerLimits limits;
  ListenerTimeouts timeouts;
  bool server_timing = false;
  // Route on (and forward) the normalized path: dot segments removed, '/' runs merged,
  // unreserved escapes decoded (http/path_normalize.h). Off: the path as sent.
  bool normalize_path = true;
  // Content-Length bodies of 64 KiB or more from a cleartext upstream to a cleartext client
  // are relayed with splice(2): the kernel moves the pages, hop copies nothing.
  bool splice = true;
  // Every connection starts with a PROXY protocol header (v1 or v2) from a load balancer in
  // front of hop: its source address is the client's (X-Forwarded-For, access log, hashing);
  // a connection without a valid one is closed.
  bool proxy_protocol = false;
  std::optional<TlsServerConfig> tls;
  Http2Settings http2;
};

enum class LbPolicy { kRoundRobin, kLeastRequest, kRandom, kMaglev };
const char* to_string(LbPolicy p);

struct HashOn {
  enum class Kind { kClientIp, kHeader, kCookie };
  Kind kind = Kind::kClientIp;
  std::string name;
};

struct HostConfig {
  std::string address_text;
  core::Address address;  // numeric hosts
  std::string dns_name;   // hosts given by name: resolved and re-resolved by TTL
  uint16_t port = 0;      // with dns_name
  uint32_t weight = 1;
};

struct PoolConfig {
  uint64_t max_connections = 1024;          // per worker per host
  uint64_t max_pending = 1024;              // queued requests waiting for a connection
  milliseconds idle_timeout{60000};
  uint64_t max_requests_per_connection = 0;  // 0 = unlimited
  milliseconds connect_timeout{2000};
};

struct OutlierConfig {
  bool enabled = false;                      // the 5xx and gateway detectors: `outlier:` is present
  uint32_t consecutive_5xx = 5;
  uint32_t consecutive_gateway_failure = 5;  // connect failures, resets, timeouts
  // Connects refused, failed or timed out in a row (nothing was sent: the host is gone, not
  // slow). On whether or not `outlier:` is present, because a dead host must leave rotation
  // in microseconds, not after health checks; 0 = off. A passing health check ends it.
  uint32_t consecutive_local_origin_failure = 1;
  milliseconds base_ejection{30000};         // ejection time = base × ejections so far
  milliseconds max_ejection{300000};
  double max_ejection_percent = 10.0;        // never eject more than this share of hosts (at least one)
};

struct CircuitBreakers {
  uint64_t max_connections = 0;  // cluster-wide, all workers; 0 = unlimited
  uint64_t max_pending = 0;
  uint64_t max_requests = 0;
  uint64_t max_retries = 0;
};

// HTTP/2 to a cluster's hosts (protocol h2, h2c or auto).
struct UpstreamHttp2Config {
  uint32_t max_concurrent_streams = 100;  // hop's own cap per upstream connection
  // Keepalive: a PING after this long without a frame from the host (0 = off), and the
  // connection is closed when nothing arrives within ping_timeout of it. Catches hosts
  // that vanished without a FIN (crash, NAT or firewall state dropped) before a request
  // is sent into the dead connection.
  milliseconds ping_interval{0};
  milliseconds ping_timeout{5000};
};

// How hop speaks to a cluster's hosts. kAuto needs TLS and picks h2 or HTTP/1.1 by ALPN.
enum class UpstreamProtocol { kHttp1, kHttp2, kH2c, kAuto };
const char* to_string(UpstreamProtocol p);

struct ClusterConfig {
  std::string name;
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  std::optional<TlsClientConfig> tls;
  UpstreamHttp2Config http2;
  LbPolicy lb = LbPolicy::kRoundRobin;
  HashOn hash_on;
  std::vector<HostConfig> hosts;
  PoolConfig pool;
  std::optional<health::CheckSpec> health_check;
  OutlierConfig outlier;
  CircuitBreakers breakers;
  double panic_threshold = 50.0;  // below this % of healthy hosts, balance across all
};

struct BuiltinBackend {
  std::string name;
  core::Address address;
  int fail_status = 0;  // fault injection: answer every request but /health with this status
};

struct AccessLogConfig {
  std::string path;  // "" = off, "stdout", or a file
};

struct Config {
  std::string source;          // file path, or "<quickstart>"
  std::string text;            // the YAML as loaded, for /config
  unsigned workers = 0;        // 0 = one per core
  std::optional<core::Address> admin;
  milliseconds drain_timeout{10000};
  AccessLogConfig access_log;
  std::vector<Listener> listeners;
  std::vector<ClusterConfig> clusters;
  std::vector<BuiltinBackend> backends;
  std::shared_ptr<const dns::DnsConfig> dns;
  dns::ResolverOptions resolver;  // for cluster hosts given by name

  const ClusterConfig* find_cluster(std::string_view name) const;
  std::string summary() const;  // "2 listeners, 3 clusters, 5 hosts, 1 zone"
};

}  // namespace hop::config
