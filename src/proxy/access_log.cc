#include "proxy/access_log.h"

#include "core/json_escape.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace hop::proxy {


namespace {
void add_str(std::string& b, const char* key, std::string_view v) {
  b += ",\"";
  b += key;
  b += "\":\"";
  core::append_json_escaped(b, v);
  b += '"';
}
void add_num(std::string& b, const char* key, double v) {
  char tmp[48];
  int n = std::snprintf(tmp, sizeof tmp, ",\"%s\":%.3f", key, v);
  b.append(tmp, static_cast<size_t>(n));
}
void add_int(std::string& b, const char* key, uint64_t v) {
  char tmp[48];
  int n = std::snprintf(tmp, sizeof tmp, ",\"%s\":%llu", key, static_cast<unsigned long long>(v));
  b.append(tmp, static_cast<size_t>(n));
}
}  // namespace

void AccessLog::log(const AccessLogEntry& e, int64_t unix_ms) {
  if (fd_ < 0) return;
  if (buf_.size() > max_buffer_) {
    ++dropped_;
    return;
  }
  char ts[32];
  int n = std::snprintf(ts, sizeof ts, "{\"ts_ms\":%lld", static_cast<long long>(unix_ms));
  buf_.append(ts, static_cast<size_t>(n));
  add_str(buf_, "listener", e.listener);
  add_str(buf_, "client", e.client);
  add_str(buf_, "method", e.method);
  add_str(buf_, "path", e.path);
  add_str(buf_, "protocol", e.protocol);
  add_int(buf_, "status", static_cast<uint64_t>(e.status));
  add_int(buf_, "bytes_received", e.bytes_received);
  add_int(buf_, "bytes_sent", e.bytes_sent);
  add_num(buf_, "duration_ms", e.duration_ms);
  if (!e.cluster.empty()) add_str(buf_, "cluster", e.cluster);
  if (!e.upstream_host.empty()) {
    add_str(buf_, "upstream_host", e.upstream_host);
    if (e.upstream_connect_ms >= 0) add_num(buf_, "upstream_connect_ms", e.upstream_connect_ms);
    if (e.upstream_ttfb_ms >= 0) add_num(buf_, "upstream_ttfb_ms", e.upstream_ttfb_ms);
    buf_ += e.upstream_reused ? ",\"upstream_reused\":true" : ",\"upstream_reused\":false";
    add_int(buf_, "attempts", e.attempts);
  }
  if (!e.error.empty()) add_str(buf_, "error", e.error);
  buf_ += "}\n";
  if (buf_.size() >= 64 * 1024) flush();
}

void AccessLog::replace_fd(int fd) {
  if (fd_ >= 0) {
    flush();
    ::close(fd_);
  }
  buf_.clear();  // what the old sink would not take is dropped, not written to the new one
  fd_ = fd;
}

void AccessLog::flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // a full pipe or a broken sink: keep what is left (bounded above)
  }
  buf_.erase(0, off);
}

}  // namespace hop::proxy
