// Runs the requests of one `hop trace` invocation: connection setup measured phase by
// phase, then the exchange, with a connection kept across requests unless told not to.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "trace/connection.h"
#include "trace/dns_resolver.h"
#include "trace/http_exchange.h"
#include "trace/request_trace.h"
#include "trace/tls_client_context.h"
#include "trace/traceparent.h"

namespace hop::trace {

enum class HttpVersion { kAuto, kHttp1, kHttp2 };

struct TraceOptions {
  std::string url;
  HttpVersion version = HttpVersion::kAuto;
  std::string method;  // empty: GET, or POST with a body
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<ResolveOverride> resolves;
  std::string dns_servers;
  std::string cacert;
  bool insecure = false;
  core::Millis connect_timeout{10'000};  // DNS + connect + TLS, as curl's --connect-timeout
  core::Millis max_time{60'000};         // the whole request
  int count = 1;
  bool reuse = true;
  std::function<void(std::string_view)> body_sink;  // -o
};

class TraceRunner {
 public:
  explicit TraceRunner(TraceOptions options);
  // Checks the options and sets up TLS and DNS; false with error on bad input.
  bool init(std::string& error);
  // Runs request `index` (1-based).
  RequestTrace run(int index);

 private:
  bool set_up_connection(RequestTrace& t, core::TimePoint connect_deadline, bool resume);
  void run_exchange(RequestTrace& t, core::TimePoint deadline);
  // An HTTP error status becomes the failing phase; stamps the total.
  RequestTrace finish(RequestTrace& t, core::TimePoint start);

  TraceOptions options_;
  HttpRequest request_;
  std::unique_ptr<DnsResolver> resolver_;
  TlsClientContext tls_;
  TraceparentSource traceparent_;
  Connection conn_;
  std::unique_ptr<HttpExchange> exchange_;
  TlsInfo conn_tls_;  // of the open connection, repeated on reused requests
};

}  // namespace hop::trace
