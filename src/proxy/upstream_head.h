// The first step of reading an HTTP/1.1 upstream's response, common to HttpConnection and
// Exchange: parse the head at the front of the upstream buffer and classify it.
#pragma once

#include "core/buffer.h"
#include "http/h1_parser.h"

namespace hop::proxy {

enum class UpstreamHead {
  kWait,     // incomplete: read more
  kInterim,  // a 1xx (not 101): its head_bytes are at the front of the buffer, not consumed
  kFinal,    // the response head: head.head_bytes not consumed
  kUpgrade,  // 101 to WebSocket, which the request asked for: the connection becomes a tunnel
  kFailed,   // answer `status` with x-hop-error `hop_error` (malformed, too big, unasked 101)
};

// `in` is not consumed; it is non-const only because asking for free space may compact it.
// `upgrade_requested`: the request was sent with Upgrade: websocket.
UpstreamHead read_upstream_head(core::Buffer& in, const http::H1Limits& limits, bool request_was_head,
                                bool upgrade_requested, http::ResponseHead& head, int& status,
                                const char*& hop_error);

}  // namespace hop::proxy
