#include "proxy/router.h"

namespace hop::proxy {

namespace {
std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && http::iequals(s.substr(s.size() - suffix.size()), suffix);
}
}  // namespace

const config::VirtualHost* select_vhost(const config::Listener& l, std::string_view host) {
  host = strip_port(host);
  const config::VirtualHost* wildcard = nullptr;
  size_t wildcard_len = 0;
  const config::VirtualHost* fallback = nullptr;
  for (const auto& vh : l.vhosts) {
    for (const auto& d : vh.domains) {
      if (d == "*") {
        if (!fallback) fallback = &vh;
      } else if (d.size() > 2 && d[0] == '*') {
        std::string_view suffix = std::string_view(d).substr(1);  // ".example.com"
        if (host.size() > suffix.size() && ends_with_ci(host, suffix) && suffix.size() > wildcard_len) {
          wildcard = &vh;
          wildcard_len = suffix.size();
        }
      } else if (http::iequals(d, host)) {
        return &vh;
      }
    }
  }
  return wildcard ? wildcard : fallback;
}

bool route_matches(const config::Route& r, std::string_view method, std::string_view path,
                   const http::HeaderList& headers) {
  const auto& m = r.match;
  switch (m.path_kind) {
    case config::RouteMatch::PathKind::kPrefix:
      if (path.substr(0, m.path.size()) != m.path) return false;
      break;
    case config::RouteMatch::PathKind::kExact:
      if (path != m.path) return false;
      break;
    case config::RouteMatch::PathKind::kRegex:
      if (!std::regex_match(path.begin(), path.end(), *m.path_regex)) return false;
      break;
  }
  if (!m.methods.empty()) {
    bool ok = false;
    for (const auto& x : m.methods) ok |= (x == method);
    if (!ok) return false;
  }
  for (const auto& hm : m.headers) {
    bool present = headers.has(hm.name);
    std::string_view v = headers.get(hm.name);
    bool match = false;
    switch (hm.kind) {
      case config::HeaderMatch::Kind::kPresent: match = present; break;
      case config::HeaderMatch::Kind::kExact: match = present && v == hm.value; break;
      case config::HeaderMatch::Kind::kPrefix: match = present && v.substr(0, hm.value.size()) == hm.value; break;
      case config::HeaderMatch::Kind::kRegex: match = present && std::regex_match(v.begin(), v.end(), *hm.regex); break;
    }
    if (match == hm.invert) return false;
  }
  return true;
}

const config::Route* select_route(const config::VirtualHost& vh, std::string_view method, std::string_view path,
                                  const http::HeaderList& headers) {
  for (const auto& r : vh.routes)
    if (route_matches(r, method, path, headers)) return &r;
  return nullptr;
}

const config::WeightedCluster& pick_weighted(const config::Route& r, uint64_t random) {
  uint64_t x = random % r.total_weight;
  for (const auto& wc : r.clusters) {
    if (x < wc.weight) return wc;
    x -= wc.weight;
  }
  return r.clusters.back();
}

std::string_view absolute_form_authority(const http::RequestHead& req) {
  if (req.target.empty() || req.target[0] == '/' || req.target.size() <= req.origin_target.size()) return {};
  std::string_view t = req.target.substr(0, req.target.size() - req.origin_target.size());
  size_t scheme = t.find("://");
  return scheme == std::string_view::npos ? std::string_view() : t.substr(scheme + 3);
}

std::string_view find_cookie(const http::HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (!http::iequals(h.name, "cookie")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      auto semi = v.find(';');
      std::string_view pair = v.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
      if (semi == std::string_view::npos) break;
      v.remove_prefix(semi + 1);
    }
  }
  return {};
}

}  // namespace hop::proxy
