// Reads one HTTP/1.1 response (RFC 9112) from bytes as they arrive, keeping only the head:
// the body is counted, not stored, so a trace of a large download stays small.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hop::trace {

struct H1Limits {
  size_t max_line = 8 * 1024;          // status line, one header line, one chunk-size line
  size_t max_header_bytes = 64 * 1024;  // the whole head, trailers included
  size_t max_headers = 128;
};

class H1ResponseReader {
 public:
  explicit H1ResponseReader(bool head_request = false, H1Limits limits = {});

  // Receives body bytes (dechunked) as they are read; unset means count only.
  void set_body_sink(std::function<void(std::string_view)> sink) { sink_ = std::move(sink); }

  // Consumes bytes; returns how many were used. Stops at the end of the message, so
  // bytes after it (a pipelined or stray response) are left to the caller.
  size_t feed(std::string_view data);
  // The peer closed the connection: ends a close-delimited body (RFC 9112 §6.3 item 8),
  // an error anywhere else.
  void on_eof();

  bool headers_complete() const { return head_complete_; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  const std::string& error() const { return error_; }

  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  // All values of a field joined with ", " (RFC 9110 §5.3); empty when absent.
  std::string header(std::string_view name) const;
  uint64_t body_bytes() const { return body_bytes_; }
  // Whether the connection can carry another request after this response.
  bool keep_alive() const { return keep_alive_; }

 private:
  enum class State {
    kStatusLine, kHeaders, kBodyLength, kBodyUntilClose, kChunkSize, kChunkData,
    kChunkDataEnd, kTrailers, kDone, kError
  };

  bool take_line(std::string_view data, size_t& used, std::string& line, bool& complete);
  void fail(std::string message);
  void on_status_line(const std::string& line);
  void on_header_line(const std::string& line, bool trailer);
  void on_head_complete();
  void on_chunk_size_line(const std::string& line);

  void deliver(std::string_view body);

  bool head_request_;
  H1Limits limits_;
  std::function<void(std::string_view)> sink_;
  State state_ = State::kStatusLine;
  std::string error_;
  std::string line_;
  size_t head_bytes_ = 0;
  int status_ = 0;
  int minor_version_ = 1;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  bool keep_alive_ = false;
  bool head_complete_ = false;
};

}  // namespace hop::trace
