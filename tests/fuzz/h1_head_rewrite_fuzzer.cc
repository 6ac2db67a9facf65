// libFuzzer target for the head writers: whatever request or response head the parser
// accepts, the head hop writes for the other side parses again as one complete head, keeps
// the method, target, status and body framing, and carries every end-to-end field in order
// (hop-by-hop fields and the ones hop rewrites itself are the only ones dropped).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/h1_parser.h"
#include "proxy/head_writer.h"

using namespace hop;
using http::iequals;

namespace {
bool rewritten_by_hop(std::string_view name) {
  for (std::string_view n : {"host", "via", "x-forwarded-for", "x-forwarded-proto", "expect", "content-length",
                             "transfer-encoding", "traceparent"})
    if (iequals(name, n)) return true;
  return false;
}

// The fields of `from` that hop must pass on appear in `to`, in the same order.
bool carried(const http::HeaderList& from, const http::HeaderList& to, bool options) {
  size_t j = 0;
  for (const auto& h : from) {
    if (proxy::is_hop_by_hop(h.name, from, options) || rewritten_by_hop(h.name)) continue;
    while (j < to.size() && !(to[j].name == h.name && to[j].value == h.value)) ++j;
    if (j == to.size()) return false;
    ++j;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  http::H1Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_request_line = 1024;
  limits.max_headers = 32;
  http::H1Limits out_limits;  // hop's own additions may take a head past the input's limits
  out_limits.max_headers = 64;
  out_limits.max_head_bytes = 64 * 1024;
  http::ParseError err;

  http::RequestHead req;
  if (http::parse_request(p, size, limits, req, err) == http::ParseResult::kOk) {
    char tp[64];
    proxy::UpstreamRequestParams params{req.origin_target, "192.0.2.7",
                                        (size & 1) ? std::string_view(tp, proxy::make_traceparent(size, 2, 3, tp))
                                                   : std::string_view(),
                                        "fallback.example", {}};
    if (req.has_upgrade && http::list_contains(req.headers.get("upgrade"), "websocket"))
      params.upgrade = req.headers.get("upgrade");  // as HttpConnection passes a WebSocket upgrade on
    std::string out;
    proxy::write_upstream_request_head(req, params, out);
    http::RequestHead again;
    if (http::parse_request(out.data(), out.size(), out_limits, again, err) != http::ParseResult::kOk) __builtin_trap();
    if (again.head_bytes != out.size() || again.method != req.method || again.origin_target != req.origin_target)
      __builtin_trap();
    if (again.framing != req.framing || again.content_length != req.content_length) __builtin_trap();
    if (!carried(req.headers, again.headers, req.connection_options)) __builtin_trap();
    if (!params.upgrade.empty() && (!again.has_upgrade || again.headers.get("upgrade") != params.upgrade))
      __builtin_trap();
  }

  bool was_head = (size & 2) != 0;
  http::ResponseHead resp;
  if (http::parse_response(p, size, limits, was_head, resp, err) == http::ParseResult::kOk) {
    proxy::DownstreamResponseParams params;
    params.chunked = resp.framing == http::BodyFraming::kChunked;
    params.close = (size & 4) != 0;
    params.client_http10 = (size & 8) != 0;
    params.server_timing = (size & 16) ? "upstream;dur=1.5" : "";
    if (resp.status == 101) params.upgrade = resp.headers.get("upgrade");  // a tunnel's head
    std::string out = (size & 32) ? "HTTP/1.1 100 Continue\r\n\r\n" : "";  // an interim response before it
    size_t start = out.size();
    proxy::write_downstream_response_head(resp, params, out);
    http::ResponseHead again;
    if (http::parse_response(out.data() + start, out.size() - start, out_limits, was_head, again, err) !=
        http::ParseResult::kOk)
      __builtin_trap();
    if (again.head_bytes != out.size() - start || again.status != resp.status) __builtin_trap();
    if (again.framing != resp.framing) __builtin_trap();
    if (resp.framing == http::BodyFraming::kContentLength && again.content_length != resp.content_length)
      __builtin_trap();
    if (!carried(resp.headers, again.headers, resp.connection_options)) __builtin_trap();
  }

  std::string local;
  proxy::write_local_response(100 + static_cast<int>(size % 500), "text/plain", std::string_view(p, size),
                              "fuzz", (size & 1) ? "/x" : "", (size & 2) != 0, (size & 4) != 0, local);
  http::ResponseHead lr;
  if (http::parse_response(local.data(), local.size(), out_limits, false, lr, err) != http::ParseResult::kOk)
    __builtin_trap();
  return 0;
}
