"""`hop check -c` refuses unusable certificates: exit 1 and FILE:LINE:COL at the key naming the file."""
import re
import shutil
import signal
import subprocess

from tls_helpers import CA, CLIENT, LOCALHOST, OTHER, config, curl, free_port, listener, metric, tls_block, \
    wait_until

CA_CNF = """\
[ ca ]
default_ca = tmp_ca
[ tmp_ca ]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = copy
[ any ]
commonName = supplied
"""


def self_signed(folder, name, start, end):
    """A self-signed EC P-256 certificate valid from start to end (YYYYMMDDHHMMSSZ), with the
    openssl CLI: OpenSSL 3.0's `req` has no -not_before/-not_after, `openssl ca` has -startdate/-enddate."""
    d = folder / f"ca-{name}"
    d.mkdir()
    (d / "ca.cnf").write_text(CA_CNF)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    key, csr, cert = folder / f"{name}-key.pem", d / "req.csr", folder / f"{name}.pem"

    def sh(*args):
        p = subprocess.run(args, cwd=d, capture_output=True, timeout=20)
        assert p.returncode == 0, p.stderr.decode()

    sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost",
       "-addext", "subjectAltName=DNS:localhost")
    sh("openssl", "ca", "-batch", "-notext", "-config", "ca.cnf", "-selfsign", "-keyfile", str(key), "-in", str(csr),
       "-startdate", start, "-enddate", end, "-out", str(cert))
    return cert, key


def tls_config(certs, **tls):
    return config([listener("https", free_port(), tls=tls_block(certs=certs, **tls))], cluster_hosts=[free_port()])


def positions_naming(path, needle):
    """(line, column) of every place the config file names needle (1-based, column of the value)."""
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        if str(needle) in line:
            out.append((i + 1, line.index(str(needle)) + 1))
    return out


def assert_unreadable(msg):
    """The reason given for a missing file: it cannot be read because it is not there."""
    assert "cannot read " in msg and "No such file or directory" in msg, msg


def assert_refused(code, out, cfg_path, offending):
    """Exit 1; a FILE:LINE:COL: message for cfg_path at the value naming one of the offending
    files, and the message names that file."""
    assert code == 1, (code, out)
    found = re.findall(rf"{re.escape(str(cfg_path))}:(\d+):(\d+): (.*)", out)
    assert found, f"no {cfg_path}:LINE:COL: in:\n{out}"
    where = {pos for f in offending for pos in positions_naming(cfg_path, f)}
    hits = [msg for ln, col, msg in found if (int(ln), int(col)) in where]
    assert hits, f"expected an error at one of {sorted(where)} (line, col) of:\n{cfg_path.read_text()}\ngot:\n{out}"
    msg = hits[0]
    assert any(f.name in msg for f in offending), f"message does not name {[f.name for f in offending]}: {msg}"
    return msg


def test_valid_tls_config_passes(hop):
    code, out, _ = hop.check(tls_config([LOCALHOST, OTHER], client_ca=str(CA), client_cert="optional"))
    assert code == 0, out


def test_missing_cert_file(hop, tmp_path):
    missing = tmp_path / "nope.pem"
    code, out, path = hop.check(tls_config([(missing, LOCALHOST[1])]))
    assert_unreadable(assert_refused(code, out, path, [missing]))


def test_missing_key_file(hop, tmp_path):
    missing = tmp_path / "nope-key.pem"
    code, out, path = hop.check(tls_config([(LOCALHOST[0], missing)]))
    assert_unreadable(assert_refused(code, out, path, [missing]))


def test_key_does_not_match_certificate(hop, tmp_path):
    # Copies, so the file names in the message are unambiguous.
    cert, key = tmp_path / "localhost.pem", tmp_path / "other-key.pem"
    shutil.copy(LOCALHOST[0], cert)
    shutil.copy(OTHER[1], key)
    code, out, path = hop.check(tls_config([LOCALHOST, (cert, key)]))
    msg = assert_refused(code, out, path, [cert, key])
    assert "match" in msg.lower(), msg


def test_expired_certificate(hop, tmp_path):
    cert, key = self_signed(tmp_path, "expired", "20200101000000Z", "20200102000000Z")
    p = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-checkend", "0"], capture_output=True)
    assert p.returncode == 1  # the fixture really is expired
    code, out, path = hop.check(tls_config([(cert, key)]))
    msg = assert_refused(code, out, path, [cert])
    assert "expire" in msg.lower(), msg


def test_not_yet_valid_certificate(hop, tmp_path):
    cert, key = self_signed(tmp_path, "future", "20990101000000Z", "20990201000000Z")
    code, out, path = hop.check(tls_config([(cert, key)]))
    msg = assert_refused(code, out, path, [cert])
    assert "is not valid before 2099-01-01" in msg, msg


def test_expired_second_certificate_is_also_refused(hop, tmp_path):
    cert, key = self_signed(tmp_path, "expired2", "20200101000000Z", "20200102000000Z")
    code, out, path = hop.check(tls_config([LOCALHOST, (cert, key)]))
    msg = assert_refused(code, out, path, [cert])
    assert "expire" in msg.lower(), msg


def test_missing_client_ca_file(hop, tmp_path):
    missing = tmp_path / "no-ca.pem"
    code, out, path = hop.check(tls_config([LOCALHOST], client_ca=str(missing)))
    assert_unreadable(assert_refused(code, out, path, [missing]))


def test_missing_upstream_ca_and_client_cert(hop, tmp_path):
    missing_ca, missing_cert = tmp_path / "no-up-ca.pem", tmp_path / "no-client.pem"
    for tls, offending in (({"ca": str(missing_ca)}, missing_ca),
                           ({"ca": str(CA), "cert": str(missing_cert), "key": str(CLIENT[1])}, missing_cert)):
        cfg = config([listener("web", free_port())], cluster_hosts=[free_port()], cluster_extra={"tls": tls})
        code, out, path = hop.check(cfg)
        assert_unreadable(assert_refused(code, out, path, [offending]))


def test_running_hop_refuses_reload_to_expired_certificate(hop, tmp_path):
    # Every reload reads the files too: the old configuration stays in service.
    port, admin, backend = free_port(), free_port(), free_port()
    cfg = config([listener("https", port, tls=tls_block(certs=[LOCALHOST]))], backends=[("b1", backend)], admin=admin)
    hp = hop.start(cfg)
    cert, key = self_signed(tmp_path, "expired3", "20200101000000Z", "20200102000000Z")
    cfg["listeners"][0]["tls"]["certificates"] = [{"cert": str(cert), "key": str(key)}]
    hp.rewrite(cfg)
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(admin, "hop_config_reloads_total", result="rejected") == 1, timeout=5), \
        hp.stderr()
    assert "expired3.pem" in hp.stderr(), hp.stderr()
    p, status, _, _ = curl("--http1.1", "--cacert", str(CA), f"https://localhost:{port}/")
    assert (p.returncode, status) == (0, 200), p.stderr

