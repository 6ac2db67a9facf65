// One JSON line per request. Each worker formats into its own buffer and writes whole
// lines with one write() per batch, so lines from different workers never interleave and
// logging costs no lock. The buffer is bounded: when the sink cannot keep up, lines are
// dropped and counted rather than stalling requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace hop::proxy {

struct AccessLogEntry {
  std::string_view listener;
  std::string_view client;
  std::string_view method;
  std::string_view path;
  std::string_view protocol = "HTTP/1.1";  // what the client spoke
  int status = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  std::string_view cluster;
  std::string_view upstream_host;
  double duration_ms = 0;
  double upstream_connect_ms = -1;  // -1: no upstream
  double upstream_ttfb_ms = -1;
  bool upstream_reused = false;
  uint32_t attempts = 0;
  std::string_view error;  // x-hop-error value, if any
};

inline int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class AccessLog {
 public:
  // fd < 0 disables logging.
  explicit AccessLog(int fd, size_t max_buffer = 256 * 1024) : fd_(fd), max_buffer_(max_buffer) {}
  bool enabled() const { return fd_ >= 0; }
  void log(const AccessLogEntry& e, int64_t unix_ms);
  void flush();  // end of each loop iteration and when the buffer fills
  // Writes what is buffered to the old sink, closes it and continues on `fd` (< 0: off):
  // log rotation (the file was renamed and a new one opened) and reloads.
  void replace_fd(int fd);
  uint64_t dropped() const { return dropped_; }

 private:
  int fd_;
  size_t max_buffer_;
  std::string buf_;
  uint64_t dropped_ = 0;
};


}  // namespace hop::proxy
