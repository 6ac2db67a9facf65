"""Fixtures for the TLS / HTTP/2 client-side tests: hop processes on free 127.0.0.1 ports.

Run with Debian's interpreter:
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/tls
"""
from tls_helpers import to_yaml  # puts ../common on sys.path
from hop_process import HopLauncher, hop_bin, launcher_fixture, suite_hooks, time_limit_fixture  # noqa: F401

pytest_configure, pytest_sessionfinish = suite_hooks("hop-tls-it-")


def _ports_of(cfg):
    """Every port hop should be listening on once it is up (admin, backends, listeners)."""
    ports = []
    if cfg.get("admin"):
        ports.append(int(cfg["admin"].rsplit(":", 1)[1]))
    for section in ("backends", "listeners"):
        for item in cfg.get(section, []):
            ports.append(int(item["address"].rsplit(":", 1)[1]))
    return ports


class TlsLauncher(HopLauncher):
    """Configs are dicts (see tls_helpers.config), written as YAML; hp.rewrite(cfg) too."""

    def render(self, cfg):
        return cfg if isinstance(cfg, str) else to_yaml(cfg)

    def start(self, cfg):
        """`hop run -c` on cfg (a dict, see tls_helpers.config); waits for all its ports."""
        return self.run_config(cfg, extra_wait=_ports_of(cfg), name=f"hop{self.count + 1}.yaml")


hop = launcher_fixture(TlsLauncher)
module_hop = launcher_fixture(TlsLauncher, name="module_hop", scope="module")


thirty_second_bound = time_limit_fixture(30)  # pytest-timeout is not packaged in Debian 12
