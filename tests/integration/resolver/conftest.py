"""Fixtures for the upstream-resolver tests: the hop binary ($HOP_BIN or build/hop; a missing
one fails the tests) and the per-test time bound the other suites have.

Run with Debian's interpreter:
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/resolver
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from hop_process import hop_bin, time_limit_fixture  # noqa: E402,F401

thirty_second_bound = time_limit_fixture(30)  # pytest-timeout is not packaged in Debian 12
