"""Fixtures for the HTTP/2 tests: hop processes (with built-in backends) on free 127.0.0.1 ports.

Run with Debian's interpreter:
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/h2
"""
from h2_helpers import CERTS, free_port  # puts ../common on sys.path
from hop_process import HopLauncher, hop_bin, launcher_fixture, suite_hooks, time_limit_fixture  # noqa: F401

pytest_configure, pytest_sessionfinish = suite_hooks("hop-h2-it-")


def flow(d):
    return "{ " + ", ".join(f"{k}: {v}" for k, v in d.items()) + " }"


class H2Launcher(HopLauncher):
    """start() returns one `hop run`: a cleartext listener (h1 + h2c prior knowledge) on .port,
    optionally a TLS listener (ALPN h2, http/1.1) on .tls_port, a built-in backend on
    .backend_port, the admin on .admin."""

    def start(self, http2=None, protocol="h1", upstream_port=None, tls=False, listener_extra=None,
              cluster_extra=None, access_log="off", sink_port=None):
        """hop with one built-in backend; every listener routes / to cluster `app`, which
        speaks `protocol` to upstream_port (default: the built-in backend). With sink_port,
        /sink goes to cluster `sink` (HTTP/1.1 to that port) and the rest to `app`."""
        port, admin, bport = free_port(), free_port(), free_port()
        tls_port = free_port() if tls else None
        http2 = dict(http2 or {})
        routes = ["    routes:"]
        if sink_port:
            routes += ["      - match: { prefix: /sink }", "        cluster: sink"]
        routes += ["      - match: { prefix: / }", "        cluster: app"]
        lines = [
            "workers: 1",
            f"admin: 127.0.0.1:{admin}",
            f"access_log: {access_log}",
            "backends:",
            f"  - {{ name: b1, address: 127.0.0.1:{bport} }}",
            "listeners:",
            "  - name: web",
            f"    address: 127.0.0.1:{port}",
        ]
        if http2:
            lines.append(f"    http2: {flow(http2)}")
        lines += [f"    {x}" for x in (listener_extra or [])]
        lines += routes
        if tls:
            lines += [
                "  - name: https",
                f"    address: 127.0.0.1:{tls_port}",
                "    tls:",
                "      certificates:",
                f"        - {{ cert: {CERTS}/localhost.pem, key: {CERTS}/localhost-key.pem }}",
                "      alpn: [h2, http/1.1]",
            ]
            if http2:
                lines.append(f"    http2: {flow(http2)}")
            lines += [f"    {x}" for x in (listener_extra or [])]
            lines += routes
        lines += [
            "clusters:",
            "  - name: app",
            f"    protocol: {protocol}",
            f"    hosts: [127.0.0.1:{upstream_port or bport}]",
        ]
        lines += [f"    {x}" for x in (cluster_extra or [])]
        if sink_port:
            lines += ["  - name: sink", f"    hosts: [127.0.0.1:{sink_port}]"]
        return self.run_config("\n".join(lines) + "\n", port=port, admin=admin, extra_wait=(bport, tls_port),
                               name=f"hop{self.count + 1}.yaml", tls_port=tls_port, backend_port=bport)


hop = launcher_fixture(H2Launcher)
module_hop = launcher_fixture(H2Launcher, name="module_hop", scope="module")


thirty_second_bound = time_limit_fixture(30)  # pytest-timeout is not packaged in Debian 12
