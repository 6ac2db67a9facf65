// The configuration `hop run` serves when given no file: enough to see routing, a weighted
// split, the admin endpoints and the access log without writing anything.
#pragma once

namespace hop::cli {

inline constexpr const char* kQuickstartConfig = R"(# hop quickstart (hop run with no -c). Save it, edit it, and run hop run -c FILE.
admin: 127.0.0.1:9901
access_log: stdout
backends:                      # built-in origins, so the quickstart needs nothing else
  - { name: blue,  address: 127.0.0.1:9001 }
  - { name: green, address: 127.0.0.1:9002 }
listeners:
  - name: web
    address: 127.0.0.1:8080
    server_timing: true
    routes:
      - match: { prefix: /blue }
        cluster: blue
        prefix_rewrite: /
      - match: { prefix: /green }
        cluster: green
        prefix_rewrite: /
      - match: { path: /hello }
        direct: { status: 200, body: "hello from hop\n" }
      - match: { path: /old }
        redirect: { path: /hello, code: 301 }
      - match: { prefix: / }
        split: { blue: 90, green: 10 }     # canary: 10% of traffic to green
clusters:
  - name: blue
    hosts: [127.0.0.1:9001]
  - name: green
    hosts: [127.0.0.1:9002]
)";

inline constexpr const char* kQuickstartBanner = R"(
hop quickstart is serving on http://127.0.0.1:8080 (admin on http://127.0.0.1:9901)

  curl -i http://127.0.0.1:8080/             # 90% blue, 10% green: see the x-backend header
  for i in $(seq 20); do curl -s http://127.0.0.1:8080/ -o /dev/null -D - | grep -i x-backend; done
  curl -i http://127.0.0.1:8080/green/anything   # path routing with prefix rewrite
  curl -i http://127.0.0.1:8080/hello         # a direct response
  curl -i http://127.0.0.1:8080/blue/delay/200   # Server-Timing shows where 200 ms went
  curl -s http://127.0.0.1:9901/metrics | grep hop_downstream
  curl -s http://127.0.0.1:9901/clusters

Ctrl-C drains and exits. The configuration in force: curl -s http://127.0.0.1:9901/config
)";

}  // namespace hop::cli
