#include "backend/response_plan.h"

#include <charconv>

#include "core/json_escape.h"

namespace hop::backend {

namespace {
constexpr uint64_t kMaxBytes = 64ull * 1024 * 1024 * 1024;  // /bytes/N cap: 64 GiB
constexpr uint64_t kMaxDelayMs = 600000;

bool parse_tail_number(std::string_view path, std::string_view prefix, uint64_t& out) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  std::string_view num = path.substr(prefix.size());
  if (num.empty()) return false;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), out);
  return ec == std::errc() && p == num.data() + num.size();
}

std::string_view name_of(const http::Header& h) { return h.name; }
std::string_view value_of(const http::Header& h) { return h.value; }
std::string_view name_of(const std::pair<std::string, std::string>& h) { return h.first; }
std::string_view value_of(const std::pair<std::string, std::string>& h) { return h.second; }
}  // namespace

const char* pattern_block() {
  static char block[kPatternBlockSize];
  static bool init = [] {
    for (size_t i = 0; i < sizeof block; ++i) block[i] = static_cast<char>('a' + i % 26);
    return true;
  }();
  (void)init;
  return block;
}

bool no_body_status(int status) { return status == 204 || status == 304 || (status >= 100 && status < 200); }

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

template <typename Headers>
ResponsePlan plan_response(std::string_view backend_name, std::string_view method, std::string_view target,
                           std::string_view peer_ip, const Headers& headers, int fail_status) {
  ResponsePlan p;
  std::string_view path = target.substr(0, target.find('?'));
  uint64_t n = 0;
  if (path == "/health") {
    p.kind = ResponsePlan::Kind::kHealth;
  } else if (parse_tail_number(path, "/status/", n) && n >= 200 && n <= 599) {
    p.status = static_cast<int>(n);
  } else if (parse_tail_number(path, "/delay/", n)) {
    p.delay_ms = n < kMaxDelayMs ? n : kMaxDelayMs;
  } else if (parse_tail_number(path, "/bytes/", n)) {
    p.kind = ResponsePlan::Kind::kBytes;
    p.bytes = n < kMaxBytes ? n : kMaxBytes;
  } else if (path == "/trailers") {
    p.trailers = true;
  }
  if (fail_status && p.kind != ResponsePlan::Kind::kHealth) {
    p.status = fail_status;
    p.kind = ResponsePlan::Kind::kEcho;
    p.bytes = 0;
  }
  if (p.kind == ResponsePlan::Kind::kEcho) {
    std::string& e = p.echo;
    e += "{\"backend\":\"";
    core::append_json_escaped(e, backend_name);
    e += "\",\"method\":\"";
    core::append_json_escaped(e, method);
    e += "\",\"path\":\"";
    core::append_json_escaped(e, target);
    e += "\",\"client\":\"";
    core::append_json_escaped(e, peer_ip);
    e += "\",\"headers\":{";
    bool first = true;
    for (const auto& h : headers) {
      if (!first) e += ',';
      first = false;
      e += '"';
      for (char c : name_of(h)) e += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      e += "\":\"";
      core::append_json_escaped(e, value_of(h));
      e += '"';
    }
    e += "}";
  }
  return p;
}

template ResponsePlan plan_response<http::HeaderList>(std::string_view, std::string_view, std::string_view,
                                                     std::string_view, const http::HeaderList&, int);
template ResponsePlan plan_response<std::vector<std::pair<std::string, std::string>>>(
    std::string_view, std::string_view, std::string_view, std::string_view,
    const std::vector<std::pair<std::string, std::string>>&, int);

std::string ResponsePlan::finish_body(uint64_t body_bytes) {
  if (kind == Kind::kHealth) return "ok\n";
  if (kind == Kind::kBytes) return {};
  std::string body;
  body.swap(echo);
  body += ",\"body_bytes\":" + std::to_string(body_bytes) + "}\n";
  return body;
}

}  // namespace hop::backend
