#include <gtest/gtest.h>

#include "config/loader.h"
#include "proxy/router.h"

using namespace hop;

namespace {
std::shared_ptr<const config::Config> load(const std::string& yaml) {
  config::ConfigErrors errs("t.yaml");
  auto cfg = config::load_config_text(yaml, "t.yaml", "/tmp", errs);
  EXPECT_TRUE(errs.empty()) << errs.to_string();
  return cfg;
}
http::RequestHead parse(const std::string& s, std::string& storage) {
  storage = s;
  http::RequestHead h;
  http::ParseError e;
  http::parse_request(storage.data(), storage.size(), {}, h, e);
  return h;
}
const char* kYaml = R"(
listeners:
  - name: web
    address: 127.0.0.1:1
    virtual_hosts:
      - name: api
        domains: [api.example.com]
        routes:
          - match: { path: /exact }
            direct: { status: 200, body: exact }
          - match: { regex: "^/v[0-9]+/.*" , methods: [GET] }
            cluster: a
          - match: { prefix: /, headers: [{ name: x-canary, exact: "1" }] }
            cluster: b
          - cluster: a
      - name: wild
        domains: ["*.example.com"]
        routes: [{ cluster: b }]
      - name: default
        domains: ["*"]
        routes: [{ direct: { status: 404 } }]
clusters:
  - { name: a, hosts: [127.0.0.1:2] }
  - { name: b, hosts: [127.0.0.1:3] }
)";
}  // namespace

TEST(Router, SelectsVirtualHostExactThenWildcardThenDefault) {
  auto cfg = load(kYaml);
  const auto& l = cfg->listeners[0];
  EXPECT_EQ(proxy::select_vhost(l, "API.example.com:8080")->name, "api");
  EXPECT_EQ(proxy::select_vhost(l, "www.example.com")->name, "wild");
  EXPECT_EQ(proxy::select_vhost(l, "example.com")->name, "default");
  EXPECT_EQ(proxy::select_vhost(l, "other.org")->name, "default");
}

TEST(Router, MatchesPathMethodAndHeaders) {
  auto cfg = load(kYaml);
  const auto& vh = cfg->listeners[0].vhosts[0];
  std::string st;
  auto h = parse("GET /exact HTTP/1.1\r\nHost: api.example.com\r\n\r\n", st);
  EXPECT_EQ(proxy::select_route(vh, h.method, h.path, h.headers), &vh.routes[0]);
  h = parse("GET /v2/users HTTP/1.1\r\nHost: api.example.com\r\n\r\n", st);
  EXPECT_EQ(proxy::select_route(vh, h.method, h.path, h.headers), &vh.routes[1]);
  h = parse("POST /v2/users HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 0\r\n\r\n", st);
  EXPECT_EQ(proxy::select_route(vh, h.method, h.path, h.headers), &vh.routes[3]);
  h = parse("GET /x HTTP/1.1\r\nHost: api.example.com\r\nX-Canary: 1\r\n\r\n", st);
  EXPECT_EQ(proxy::select_route(vh, h.method, h.path, h.headers), &vh.routes[2]);
}

TEST(Router, SplitsByWeight) {
  auto cfg = load(R"(
listeners:
  - name: web
    address: 127.0.0.1:1
    routes: [{ split: { a: 90, b: 10 } }]
clusters:
  - { name: a, hosts: [127.0.0.1:2] }
  - { name: b, hosts: [127.0.0.1:3] }
)");
  const auto& r = cfg->listeners[0].vhosts[0].routes[0];
  int b = 0;
  for (uint64_t i = 0; i < 1000; ++i) b += proxy::pick_weighted(r, i).name == "b";
  EXPECT_EQ(b, 100);
}

TEST(Router, FindsCookies) {
  std::string st;
  auto h = parse("GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; session=abc; z=2\r\n\r\n", st);
  EXPECT_EQ(proxy::find_cookie(h.headers, "session"), "abc");
  EXPECT_EQ(proxy::find_cookie(h.headers, "missing"), "");
}
