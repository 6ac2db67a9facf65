// Serializes the heads hop sends: the request to the upstream and the response to the
// client, with hop-by-hop fields removed (RFC 9110 §7.6.1) and forwarding fields added.
// Output goes into a string whose capacity the connection keeps, so no allocation per
// request once warm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/h1_parser.h"

namespace hop::proxy {

// True for fields that describe one connection, not the message, and for fields the
// message's own Connection header lists.
// `options` says whether any Connection line lists options (only then are the message's
// Connection fields searched).
bool is_hop_by_hop(std::string_view name, const http::HeaderList& headers, bool options);

struct UpstreamRequestParams {
  std::string_view target;          // possibly rewritten
  std::string_view client_ip;
  std::string_view traceparent;     // generated when the client sent none; else empty
  std::string_view host_fallback;   // Host to send when an HTTP/1.0 client sent none
  std::string_view host_override;   // absolute-form authority: replaces Host (RFC 9112 §3.2.2)
  std::string_view proto = "http";  // X-Forwarded-Proto: how the client reached hop
  std::string_view via = {};        // "" = by the request's version ("1.0 hop" / "1.1 hop")
  std::string_view upgrade = {};    // an Upgrade to pass on (WebSocket): sent with Connection: upgrade
};

void write_upstream_request_head(const http::RequestHead& req, const UpstreamRequestParams& p, std::string& out);

struct DownstreamResponseParams {
  bool chunked = false;           // hop frames the body with chunked encoding
  bool close = false;             // hop will close the connection after this response
  bool client_http10 = false;
  std::string_view server_timing;  // empty = none
  std::string_view upgrade;        // 101 Switching Protocols: the protocol switched to
};

// Appends to out (which may hold an interim 1xx already).
void write_downstream_response_head(const http::ResponseHead& resp, const DownstreamResponseParams& p,
                                    std::string& out);

// A response hop makes itself (errors, direct responses, redirects); appended to out.
void write_local_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view hop_error, std::string_view location, bool close, bool head_only,
                          std::string& out);

std::string_view reason_phrase(int status);

// A W3C traceparent "00-<32 hex trace id>-<16 hex parent id>-01" (55 chars) from three
// random words, for requests that arrive without one; writes into out, returns 55.
size_t make_traceparent(uint64_t a, uint64_t b, uint64_t c, char* out);

}  // namespace hop::proxy
