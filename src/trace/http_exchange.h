// One request and its response on an open connection, in either HTTP version. The caller
// owns the connection and measures setup; an exchange measures send, ttfb and transfer.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "trace/connection.h"
#include "trace/request_trace.h"
#include "trace/url.h"

namespace hop::trace {

struct HttpRequest {
  std::string method = "GET";
  Url url;
  // User headers (-H) in order. An empty value removes a default header, as in curl.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string traceparent;
  // Where response body bytes go (-o); unset: counted and dropped.
  std::function<void(std::string_view)> body_sink;
};

// Refuses header names and values that would split the request (CR, LF, NUL) or are not
// tokens; the error names the offending header.
bool validate_request_headers(const HttpRequest& request, std::string& error);

class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  // Sends request and reads the whole response, filling trace's send/ttfb/transfer
  // timings, status, bytes, Server-Timing and, on failure, failed_phase and error.
  // Returns whether the connection can carry another request.
  virtual bool run(Connection& conn, const HttpRequest& request, core::TimePoint deadline,
                   RequestTrace& trace) = 0;
  virtual const char* protocol() const = 0;
};

// HTTP/1.1: stateless between requests, so one instance serves any connection.
std::unique_ptr<HttpExchange> make_h1_exchange();
// HTTP/2: holds the session of one connection; make a new one per connection.
std::unique_ptr<HttpExchange> make_h2_exchange();

// Builds the HTTP/1.1 request bytes (exposed for tests).
std::string build_h1_request(const HttpRequest& request);

}  // namespace hop::trace
