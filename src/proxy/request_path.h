// The path the router matches and the upstream receives: the request's, normalized
// (http/path_normalize.h) when the listener asks for it, so a route rule cannot be side-
// stepped by "/public/../admin" or "/%61dmin". The access log keeps what the client sent.
#pragma once

#include <string>

#include "http/h1_parser.h"

namespace hop::proxy {

// Normalizes req.path in place: on a change, `target` holds the normal path followed by the
// query and req.path / req.origin_target are views into it (req.target, the raw request
// target, is left as sent). False when the path has a broken escape (answer 400).
// `target` belongs to the connection or stream (it must outlive the request) and keeps its
// capacity; the decoding scratch is the worker thread's.
bool normalize_request_path(http::RequestHead& req, std::string& target);

}  // namespace hop::proxy
