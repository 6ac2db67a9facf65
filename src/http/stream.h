// The seam between a multiplexing codec (HTTP/2 now, HTTP/3 later) and whatever answers
// its requests (the proxy's Exchange, the built-in backend). The codec creates one
// StreamHandler per request stream, feeds it the request and pulls the response; the
// handler talks back through the StreamSink the codec gave it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/headers.h"

namespace hop::http {

using Trailers = std::vector<std::pair<std::string, std::string>>;

// Implemented by the codec's stream. Calls may come from inside the codec's own callbacks.
class StreamSink {
 public:
  // The response head (names lowercase, no connection-specific fields). Views are valid
  // only during the call. end_stream: no body follows.
  virtual void on_response_head(int status, const HeaderPairs& headers, bool end_stream) = 0;
  // More of the body (or its end, or trailers) can be read with StreamHandler::read_body.
  virtual void on_response_data() = 0;
  // The handler failed after the head went out: reset the stream.
  virtual void on_stream_reset() = 0;
  // Request body bytes were taken: credit the client's flow-control window.
  virtual void on_request_body_consumed(size_t n) = 0;

 protected:
  ~StreamSink() = default;
};

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // The request head, before start(). Pseudo-headers come as their own calls.
  virtual void set_method(std::string_view v) = 0;
  virtual void set_path(std::string_view v) = 0;
  virtual void set_authority(std::string_view v) = 0;
  virtual void add_header(std::string_view name, std::string_view value) = 0;
  virtual void set_content_length(uint64_t n) = 0;
  virtual void set_head_bytes(size_t n) = 0;
  // The head is complete; end_stream: no body follows.
  virtual void start(bool end_stream) = 0;
  // The codec refuses the request itself (431 for an oversized header list).
  virtual void reject(int status, std::string_view body) = 0;
  virtual void push_body(const uint8_t* data, size_t len) = 0;
  virtual void end_body() = 0;
  // The client reset the stream or left: stop and free what the request holds.
  virtual void cancel() = 0;
  // Copies response body bytes; eof once the body is complete and all of it was read.
  virtual size_t read_body(uint8_t* buf, size_t len, bool& eof) = 0;
  // Response trailers, read after eof (empty = none).
  virtual const Trailers& trailers() const = 0;
};

}  // namespace hop::http
