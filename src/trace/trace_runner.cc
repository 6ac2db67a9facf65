#include "trace/trace_runner.h"

#include "http/status.h"

#include <algorithm>

namespace hop::trace {

TraceRunner::TraceRunner(TraceOptions options) : options_(std::move(options)) {}

bool TraceRunner::init(std::string& error) {
  auto url = parse_url(options_.url, error);
  if (!url) return false;
  request_.url = *url;
  request_.method = !options_.method.empty() ? options_.method
                                              : (options_.body.empty() ? "GET" : "POST");
  request_.headers = options_.headers;
  request_.body = options_.body;
  request_.body_sink = options_.body_sink;
  if (!validate_request_headers(request_, error)) return false;
  if (options_.count < 1 || options_.count > 100000) {
    error = "-n must be between 1 and 100000";
    return false;
  }
  if (url->tls) {
    TlsClientContext::Options tls_options;
    tls_options.insecure = options_.insecure;
    tls_options.cacert = options_.cacert;
    if (!tls_.init(tls_options, error)) return false;
  }
  DnsResolver::Options dns_options;
  dns_options.overrides = options_.resolves;
  dns_options.servers = options_.dns_servers;
  resolver_ = std::make_unique<DnsResolver>(std::move(dns_options));
  return true;
}

bool TraceRunner::set_up_connection(RequestTrace& t, core::TimePoint connect_deadline,
                                    bool resume) {
  conn_.close();
  exchange_.reset();
  conn_tls_ = TlsInfo{};

  auto dns_start = core::Clock::now();
  ResolveResult resolved = resolver_->resolve(request_.url.host, request_.url.port, connect_deadline);
  t.dns_ms = core::ms_between(dns_start, core::Clock::now());
  t.dns = resolved.info;
  if (!resolved.ok) {
    t.failed_phase = Phase::kDns;
    t.error = resolved.error;
    return false;
  }

  auto connect_start = core::Clock::now();
  std::string error;
  bool connected = conn_.connect_tcp(resolved.addresses, connect_deadline, error);
  t.connect_ms = core::ms_between(connect_start, core::Clock::now());
  t.remote_addr = conn_.remote().to_string();
  if (!connected) {
    t.failed_phase = Phase::kConnect;
    t.error = error;
    return false;
  }

  bool want_h2 = options_.version == HttpVersion::kHttp2;
  if (request_.url.tls) {
    std::vector<std::string> alpn;
    if (options_.version != HttpVersion::kHttp1) alpn.push_back("h2");
    if (options_.version != HttpVersion::kHttp2) alpn.push_back("http/1.1");
    auto tls_start = core::Clock::now();
    t.tls_used = true;
    bool ok = conn_.start_tls(tls_, request_.url.host, alpn, resume, connect_deadline, t.tls, error);
    t.tls_ms = core::ms_between(tls_start, core::Clock::now());
    if (!ok) {
      t.failed_phase = Phase::kTls;
      t.error = error;
      conn_.close();
      return false;
    }
    if (options_.version == HttpVersion::kHttp2 && t.tls.alpn != "h2") {
      t.failed_phase = Phase::kTls;
      t.error = "--http2 asked for, but the server did not select h2 by ALPN (got '" +
                (t.tls.alpn.empty() ? std::string("none") : t.tls.alpn) + "')";
      conn_.close();
      return false;
    }
    want_h2 = t.tls.alpn == "h2";
    conn_tls_ = t.tls;
  }
  // Plain http with --http2 is h2c with prior knowledge (RFC 9113 §3.3).
  exchange_ = want_h2 ? make_h2_exchange() : make_h1_exchange();
  return true;
}

void TraceRunner::run_exchange(RequestTrace& t, core::TimePoint deadline) {
  t.protocol = exchange_->protocol();
  bool reusable = exchange_->run(conn_, request_, deadline, t);
  if (!reusable || !options_.reuse) {
    conn_.close();
    exchange_.reset();
  }
}

RequestTrace TraceRunner::run(int index) {
  RequestTrace t;
  t.index = index;
  t.url = options_.url;
  t.method = request_.method;
  request_.traceparent = traceparent_.next();
  t.traceparent = request_.traceparent;

  auto start = core::Clock::now();
  auto deadline = start + options_.max_time;
  auto connect_deadline = std::min(deadline, start + options_.connect_timeout);

  if (conn_.is_open() && exchange_) {
    t.reused = true;
    t.remote_addr = conn_.remote().to_string();
    t.tls_used = conn_.is_tls();
    t.tls = conn_tls_;
    t.dns.source = "reused connection";
    t.dns.cached = true;
    run_exchange(t, deadline);
    // A server may close an idle keep-alive connection just as we reuse it (RFC 9112
    // §9.3.1 allows the retry when nothing came back): start over on a new one, once.
    bool nothing_came_back = t.status == 0 &&
                             (t.failed_phase == Phase::kSend || t.failed_phase == Phase::kTtfb);
    if (!nothing_came_back) return finish(t, start);
    RequestTrace fresh;
    fresh.index = t.index;
    fresh.url = t.url;
    fresh.method = t.method;
    fresh.traceparent = t.traceparent;
    t = std::move(fresh);
    conn_.close();
    exchange_.reset();
  }

  // Any connection after the first offers the last session, as a browser would: with
  // --no-reuse this shows what resumption saves; otherwise it helps when the server
  // closed the connection.
  bool resume = index > 1;
  if (set_up_connection(t, connect_deadline, resume)) run_exchange(t, deadline);
  return finish(t, start);
}

RequestTrace TraceRunner::finish(RequestTrace& t, core::TimePoint start) {
  // HTTP/2 has no reason phrase (RFC 9113 §8.3.2); show the registered one instead.
  if (t.reason.empty()) t.reason = http::reason_phrase(t.status);
  if (t.ok() && t.status >= 400) {
    t.failed_phase = Phase::kHttp;
    t.error = "HTTP " + std::to_string(t.status);
    if (!t.reason.empty()) t.error += " " + t.reason;
  }
  t.total_ms = core::ms_between(start, core::Clock::now());
  return std::move(t);
}

}  // namespace hop::trace
