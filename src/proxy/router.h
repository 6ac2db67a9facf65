// Listener → virtual host (by Host) → first matching route. Pure functions of the request
// head and the config; no state.
#pragma once

#include <string_view>

#include "config/config.h"
#include "http/h1_parser.h"

namespace hop::proxy {

// Exact domain first, then the longest matching "*.suffix", then "*". Host is compared
// without its port, case-insensitively.
const config::VirtualHost* select_vhost(const config::Listener& l, std::string_view host);

bool route_matches(const config::Route& r, std::string_view method, std::string_view path,
                   const http::HeaderList& headers);

const config::Route* select_route(const config::VirtualHost& vh, std::string_view method, std::string_view path,
                                  const http::HeaderList& headers);

// Picks a cluster of a split route by weight from a uniform random value.
const config::WeightedCluster& pick_weighted(const config::Route& r, uint64_t random);

// The authority of an absolute-form target ("http://host:port/path" → "host:port"), or
// empty for origin-form.
std::string_view absolute_form_authority(const http::RequestHead& req);

// Value of cookie `name` from the Cookie header(s), or empty.
std::string_view find_cookie(const http::HeaderList& headers, std::string_view name);

}  // namespace hop::proxy
