#include "proxy/upstream_head.h"

namespace hop::proxy {

UpstreamHead read_upstream_head(core::Buffer& in, const http::H1Limits& limits, bool request_was_head,
                                bool upgrade_requested, http::ResponseHead& head, int& status,
                                const char*& hop_error) {
  http::ParseError err;
  auto r = http::parse_response(in.data(), in.size(), limits, request_was_head, head, err);
  if (r == http::ParseResult::kIncomplete) {
    // A head that does not fit the buffer will never complete.
    if (in.writable() == 0) {
      status = 502;
      hop_error = "upstream-protocol-error";
      return UpstreamHead::kFailed;
    }
    return UpstreamHead::kWait;
  }
  if (r == http::ParseResult::kError) {
    status = err.status;
    hop_error = "upstream-protocol-error";
    return UpstreamHead::kFailed;
  }
  if (head.status == 101) {
    // Only to what was asked for (RFC 9110 §15.2.2: the server switches to a protocol the
    // client listed); anything else leaves a connection no one can speak.
    if (upgrade_requested && http::list_contains(head.headers.get("upgrade"), "websocket"))
      return UpstreamHead::kUpgrade;
    status = 502;
    hop_error = "upstream-upgrade-unsupported";
    return UpstreamHead::kFailed;
  }
  return head.status < 200 ? UpstreamHead::kInterim : UpstreamHead::kFinal;
}

}  // namespace hop::proxy
