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
