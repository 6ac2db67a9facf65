"""`hop check`, `hop proxy`, `hop backend`, `hop version` and --help, run as a user would."""
import re
import subprocess
import textwrap

import pytest

from proxy_helpers import free_port, get

LOCATION = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


def check(hop_bin, path, cwd=None):
    return subprocess.run([hop_bin, "check", "-c", str(path)], capture_output=True, text=True, timeout=10, cwd=cwd)


def write(tmp_path, text, name="hop.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


VALID = """
admin: 127.0.0.1:9901
listeners:
  - name: web
    address: 127.0.0.1:8080
    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    hosts: [127.0.0.1:9001, 127.0.0.1:9002]
"""


def test_check_valid_config_exits_0_with_one_line_summary(hop_bin, tmp_path):
    p = write(tmp_path, VALID)
    r = check(hop_bin, p)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    assert str(p) in lines[0] and "1 listeners" in lines[0] and "2 hosts" in lines[0]


def error_lines(r):
    return [line for line in r.stderr.splitlines() if line.strip()]


def assert_error_at(r, path, line, needle):
    assert r.returncode == 1, (r.stdout, r.stderr)
    errs = error_lines(r)
    assert errs, "no error printed"
    for e in errs:
        m = LOCATION.match(e)
        assert m, f"error not FILE:LINE:COL: message: {e!r}"
        assert m["file"] == str(path)
    hits = [LOCATION.match(e) for e in errs if needle in e]
    assert hits, f"no error mentioning {needle!r} in {errs}"
    assert any(int(h["line"]) == line for h in hits), f"{needle!r} not reported on line {line}: {errs}"


@pytest.mark.parametrize(
    "name,text,line,needle",
    [
        ("unknown_key", VALID.replace("    address: 127.0.0.1:8080\n", "    address: 127.0.0.1:8080\n    adress: x\n"),
         5, "adress"),
        ("wrong_type", VALID.replace("hosts: [127.0.0.1:9001, 127.0.0.1:9002]",
                                     "hosts: [127.0.0.1:9001, 127.0.0.1:9002]\n    connect_timeout: [1, 2]"),
         11, "duration"),
        ("bad_address", VALID.replace("address: 127.0.0.1:8080", "address: 127.0.0.1:99999"), 4, ""),
        ("duplicate_cluster", VALID + "  - name: app\n    hosts: [127.0.0.1:9003]\n", 11, "duplicate"),
        ("missing_cluster", VALID.replace("cluster: app", "cluster: nowhere"), 7, "nowhere"),
    ],
)
def test_check_reports_error_with_file_line_col(hop_bin, tmp_path, name, text, line, needle):
    p = write(tmp_path, text)
    r = check(hop_bin, p)
    assert_error_at(r, p, line, needle)


def test_check_reports_every_error_not_just_the_first(hop_bin, tmp_path):
    text = VALID.replace("cluster: app", "cluster: nowhere").replace("address: 127.0.0.1:8080", "address: nope")
    p = write(tmp_path, text)
    r = check(hop_bin, p)
    assert r.returncode == 1
    errs = error_lines(r)
    assert len(errs) >= 2, errs
    assert all(LOCATION.match(e) for e in errs), errs


def test_check_relative_access_log_resolves_against_config_folder(hop_bin, hop, tmp_path):
    # Run from another folder: the log must land next to the config, not in the cwd.
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    other = tmp_path / "elsewhere"
    other.mkdir()
    port, admin = free_port(), free_port()
    p = write(conf_dir, f"""
        admin: 127.0.0.1:{admin}
        access_log: logs.jsonl
        listeners:
          - name: web
            address: 127.0.0.1:{port}
            routes:
              - direct: {{ status: 200, body: "hi" }}
        """)
    assert check(hop_bin, p, cwd=other).returncode == 0
    hp = hop.spawn(["run", "-c", str(p)], wait_ports=[port, admin], cwd=other)
    assert get(port, "/").status == 200
    hp.signal(15)
    hp.wait(10)
    assert (conf_dir / "logs.jsonl").exists()
    assert not (other / "logs.jsonl").exists()
    assert '"status":200' in (conf_dir / "logs.jsonl").read_text()


def test_check_missing_file_exits_nonzero(hop_bin, tmp_path):
    r = check(hop_bin, tmp_path / "absent.yaml")
    assert r.returncode != 0


def test_version_prints_version(hop_bin):
    r = subprocess.run([hop_bin, "version"], capture_output=True, text=True, timeout=5)
    assert r.returncode == 0
    assert re.search(r"\d+\.\d+", r.stdout), r.stdout


@pytest.mark.parametrize("cmd", [[], ["run"], ["check"], ["proxy"], ["backend"], ["version"], ["trace"]])
def test_help_on_every_command(hop_bin, cmd):
    r = subprocess.run([hop_bin, *cmd, "--help"], capture_output=True, text=True, timeout=5)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout or "usage" in r.stdout.lower(), r.stdout
    if cmd == ["proxy"]:
        for flag in ("--listen", "--to", "--lb", "--workers", "--admin", "--server-timing", "--access-log"):
            assert flag in r.stdout


def test_backend_command_echoes_request_as_json(hop):
    b = hop.backend("solo")
    r = get(b.port, "/some/path?q=1", headers={"X-Test": "yes"})
    assert r.status == 200
    assert r.header("x-backend") == "solo"
    j = r.json()
    assert j["backend"] == "solo" and j["method"] == "GET" and j["path"] == "/some/path?q=1"
    assert j["headers"]["x-test"] == "yes"
    assert get(b.port, "/status/418").status == 418
    assert get(b.port, "/health").body == b"ok\n"
    assert len(get(b.port, "/bytes/12345").body) == 12345


def test_one_line_proxy_forwards_and_balances(hop, echo_backends):
    port, admin = free_port(), free_port()
    to = f"127.0.0.1:{echo_backends['alpha']},127.0.0.1:{echo_backends['beta']}"
    hp = hop.spawn(["proxy", "--listen", f"127.0.0.1:{port}", "--to", to, "--lb", "round_robin", "--workers", "1",
                    "--admin", f"127.0.0.1:{admin}", "--server-timing", "--access-log", "stdout"],
                   wait_ports=[port, admin])
    seen = []
    for _ in range(6):
        r = get(port, "/x")
        assert r.status == 200
        assert r.header("server-timing") and "hop-total" in r.header("server-timing")
        seen.append(r.header("x-backend"))
    assert sorted(set(seen)) == ["alpha", "beta"]
    assert seen.count("alpha") == 3
    assert get(admin, "/ready").status == 200
    assert len(hp.access_log(min_lines=6)) >= 6


def test_one_line_proxy_rejects_bad_upstream_list(hop_bin):
    r = subprocess.run([hop_bin, "proxy", "--listen", f"127.0.0.1:{free_port()}", "--to", "not-an-address"],
                       capture_output=True, text=True, timeout=5)
    assert r.returncode != 0


BASE = """listeners:
  - name: web
    address: 127.0.0.1:8080
    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    hosts: [127.0.0.1:9001]
"""

MORE_ERRORS = {
    # name: (text, line, words the message must contain)
    "duplicate_listener_name": (BASE.replace("clusters:", "  - name: web\n    address: 127.0.0.1:8081\n"
                                             "    routes: [ { cluster: app } ]\nclusters:"), 7, "duplicate listener"),
    "duplicate_listener_address": (BASE.replace("clusters:", "  - name: web2\n    address: 127.0.0.1:8080\n"
                                                "    routes: [ { cluster: app } ]\nclusters:"), 8, "used by another"),
    "duplicate_host": (BASE.replace("[127.0.0.1:9001]", "[127.0.0.1:9001, 127.0.0.1:9001]"), 9, "duplicate host"),
    "admin_on_listener_address": ("admin: 127.0.0.1:8080\n" + BASE, 1, "admin"),
    "unknown_top_level_key": ("wrokers: 2\n" + BASE, 1, "wrokers"),
    "unknown_key_in_match": (BASE.replace("{ prefix: / }", "{ prefix: /, bogus: 1 }"), 5, "bogus"),
    "unknown_key_in_pool": (BASE + "    pool: { max_conns: 3 }\n", 10, "max_conns"),
    "workers_not_a_number": ("workers: abc\n" + BASE, 1, "integer"),
    "bool_not_a_bool": (BASE.replace("    routes:", "    server_timing: maybe\n    routes:", 1), 4, "true or false"),
    "duration_not_a_duration": ("drain_timeout: soon\n" + BASE, 1, "duration"),
    "size_not_a_size": (BASE.replace("    routes:", "    limits: { max_head: lots }\n    routes:", 1), 4, "size"),
    "hosts_not_a_list": (BASE.replace("[127.0.0.1:9001]", "127.0.0.1:9001"), 9, "list"),
    "address_hostname": (BASE.replace("127.0.0.1:8080", "localhost:8080"), 3, "address"),
    "address_without_port": (BASE.replace("127.0.0.1:8080", "127.0.0.1"), 3, "address"),
    "address_bad_octet": (BASE.replace("127.0.0.1:8080", "300.0.0.1:80"), 3, "address"),
    "split_to_missing_cluster": (BASE.replace("cluster: app", "split: { app: 50, ghost: 50 }"), 6, "ghost"),
    "invalid_regex": (BASE.replace("{ prefix: / }", "{ regex: '([' }"), 5, "regular expression"),
    "redirect_code_out_of_range": (BASE.replace("cluster: app", "redirect: { code: 200 }"), 6, "range"),
    "two_actions": (BASE.replace("cluster: app", "cluster: app\n        direct: { status: 200 }"), 5, "one action"),
    "unknown_lb": (BASE + "    lb: fastest\n", 10, "fastest"),
    "hash_on_without_maglev": (BASE + "    hash_on: client_ip\n", 10, "maglev"),
}


@pytest.mark.parametrize("name", sorted(MORE_ERRORS))
def test_check_rejects_invalid_configuration(hop_bin, tmp_path, name):
    text, line, needle = MORE_ERRORS[name]
    p = tmp_path / "hop.yaml"
    p.write_text(text)
    r = check(hop_bin, p)
    assert_error_at(r, p, line, needle)


def test_check_rejects_upstream_port_zero(hop_bin, tmp_path):
    p = tmp_path / "hop.yaml"
    p.write_text(BASE.replace("127.0.0.1:9001", "127.0.0.1:0"))
    assert check(hop_bin, p).returncode == 1


def test_one_line_proxy_with_maglev_on_a_header(hop, echo_backends):
    port = free_port()
    to = ",".join(f"127.0.0.1:{echo_backends[n]}" for n in ("alpha", "beta", "gamma"))
    hop.spawn(["proxy", "--listen", f"127.0.0.1:{port}", "--to", to, "--lb", "maglev", "--hash-on", "header:x-user",
               "--workers", "2"], wait_ports=[port])
    for user in ("ann", "bob", "cy"):
        seen = {get(port, "/", headers={"X-User": user}).header("x-backend") for _ in range(5)}
        assert len(seen) == 1, (user, seen)


def test_one_line_proxy_rejects_unknown_lb(hop_bin):
    r = subprocess.run([hop_bin, "proxy", "--to", "127.0.0.1:1", "--lb", "fastest"], capture_output=True, text=True,
                       timeout=5)
    assert r.returncode != 0 and "fastest" in r.stderr
