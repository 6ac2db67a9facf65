"""Fixtures for the HTTP/1.1 reverse proxy tests: hop processes on free 127.0.0.1 ports.

Run with Debian's interpreter:
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/proxy
"""
import textwrap

import pytest

from proxy_helpers import OPEN_UPSTREAMS, free_port  # puts ../common on sys.path
from hop_process import HopLauncher, hop_bin, launcher_fixture, suite_hooks, time_limit_fixture  # noqa: F401

pytest_configure, pytest_sessionfinish = suite_hooks("hop-proxy-it-")
hop = launcher_fixture()


@pytest.fixture(scope="session")
def echo_backends(hop_bin, tmp_path_factory):
    """Three `hop backend` origins shared by the tests that only read their echo."""
    launcher = HopLauncher(hop_bin, tmp_path_factory.mktemp("backends"))
    ports = {}
    for name in ("alpha", "beta", "gamma"):
        ports[name] = launcher.backend(name).port
    yield ports
    launcher.stop_all()


def cluster_yaml(name, ports, extra=""):
    hosts = ", ".join(f"127.0.0.1:{p}" for p in ports)
    s = f"  - name: {name}\n    hosts: [{hosts}]\n"
    if extra:
        s += textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ") + "\n"
    return s


def simple_config(port, admin, upstream_ports, listener_extra="", cluster_extra="", top_extra="", routes=None,
                  workers=1, access_log="stdout"):
    """One listener on `port` routing everything to cluster `app` over `upstream_ports`."""
    routes = routes or "      - match: { prefix: / }\n        cluster: app\n"
    s = f"workers: {workers}\nadmin: 127.0.0.1:{admin}\naccess_log: {access_log}\n"
    s += textwrap.dedent(top_extra)
    s += f"listeners:\n  - name: web\n    address: 127.0.0.1:{port}\n"
    if listener_extra:
        s += textwrap.indent(textwrap.dedent(listener_extra).strip("\n"), "    ") + "\n"
    s += "    routes:\n" + routes
    s += "clusters:\n" + cluster_yaml("app", upstream_ports, cluster_extra)
    return s


@pytest.fixture
def proxy(hop, echo_backends):
    """hop in front of alpha and beta (round robin), one worker, access log on stdout."""
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"], echo_backends["beta"]]),
                        port=port, admin=admin)
    return hp


thirty_second_bound = time_limit_fixture(30, close=OPEN_UPSTREAMS)  # pytest-timeout is not packaged in Debian 12
