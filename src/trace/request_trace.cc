#include "trace/request_trace.h"

namespace hop::trace {

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kNone: return "none";
    case Phase::kDns: return "dns";
    case Phase::kConnect: return "connect";
    case Phase::kTls: return "tls";
    case Phase::kSend: return "send";
    case Phase::kTtfb: return "ttfb";
    case Phase::kTransfer: return "transfer";
    case Phase::kHttp: return "http";
  }
  return "unknown";
}

double RequestTrace::throughput_bps() const {
  double ms = transfer_ms > 0.001 ? transfer_ms : total_ms;
  if (ms <= 0) return 0;
  return static_cast<double>(bytes) * 1000.0 / ms;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

int exit_status_for(const RequestTrace& t) {
  switch (t.failed_phase) {
    case Phase::kNone: return 0;
    case Phase::kDns: return 3;
    case Phase::kConnect: return 4;
    case Phase::kTls: return 5;
    case Phase::kSend:
    case Phase::kTtfb:
    case Phase::kTransfer: return 6;
    case Phase::kHttp: return 7;
  }
  return 1;
}

}  // namespace hop::trace
