"""Fixtures for the resilience fault-injection tests: hop, its origins, every process ours.

Run with Debian's interpreter:
    HOP_BIN=build-res/hop /usr/bin/python3 -m pytest -q -s tests/integration/resilience
"""
from res_helpers import OPEN_SERVERS  # puts ../common on sys.path
from hop_process import hop_bin, launcher_fixture, suite_hooks, time_limit_fixture  # noqa: F401

pytest_configure, pytest_sessionfinish = suite_hooks("hop-res-it-")
hop = launcher_fixture()  # hop.run_config(text, port, admin), hop.backend(name, fail_status=503)
thirty_second_bound = time_limit_fixture(30, close=OPEN_SERVERS)  # pytest-timeout is not packaged in Debian 12
