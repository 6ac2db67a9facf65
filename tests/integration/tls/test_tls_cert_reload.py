"""SIGHUP re-reads certificate files: open TLS connections keep working, new ones see the new cert."""
import json
import shutil
import signal
import socket
import ssl

from tls_helpers import CA, LOCALHOST, OTHER, Conn, config, free_port, listener, metric, peer_cn, \
    peer_subject, s_client, tls_block, wait_until


def start_with_copies(hop, tmp_path):
    cert, key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    shutil.copy(LOCALHOST[0], cert)
    shutil.copy(LOCALHOST[1], key)
    port, admin, backend = free_port(), free_port(), free_port()
    hp = hop.start(config([listener("https", port, tls=tls_block(certs=[(cert, key)]))],
                          backends=[("b1", backend)], admin=admin))
    hp.port, hp.admin, hp.cert, hp.key = port, admin, cert, key
    return hp


def swap_in(src, dst):
    tmp = dst.with_suffix(".tmp")
    shutil.copy(src, tmp)
    tmp.replace(dst)


def reload(hp):
    before = metric(hp.admin, "hop_config_generation")
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(hp.admin, "hop_config_generation") > before, timeout=5), hp.stderr()
    assert metric(hp.admin, "hop_config_reloads_total", result="rejected") == 0, hp.stderr()


def connect_any_name(port, server_hostname="localhost"):
    """Verifies the chain against the test CA but not the name (the served cert changes)."""
    ctx = ssl.create_default_context(cafile=str(CA))
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["http/1.1"])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(sock, server_hostname=server_hostname)


def test_open_connection_survives_reload_and_new_connections_get_new_cert(hop, tmp_path):
    hp = start_with_copies(hop, tmp_path)
    old = connect_any_name(hp.port)
    assert peer_cn(old) == "localhost"
    h1 = Conn(sock=old)
    r = h1.request("GET", "/before", host="localhost")
    assert r.status == 200 and json.loads(r.body)["path"] == "/before"

    swap_in(OTHER[0], hp.cert)
    swap_in(OTHER[1], hp.key)
    reload(hp)

    # The connection opened before the reload keeps serving requests.
    for i in range(3):
        r = h1.request("GET", f"/after{i}", host="localhost")
        assert r.status == 200 and json.loads(r.body)["path"] == f"/after{i}"
    assert peer_cn(old) == "localhost"
    old.close()

    # A new connection sees other.test, whatever the SNI.
    with connect_any_name(hp.port) as new:
        assert peer_cn(new) == "other.test"
        assert Conn(sock=new).request("GET", "/new", host="localhost").status == 200
    out = s_client(hp.port, "-servername", "other.test", "-CAfile", str(CA))
    assert peer_subject(out) == "CN = other.test", out
    assert "Verify return code: 0 (ok)" in out, out


def test_reload_without_file_change_keeps_the_certificate(hop, tmp_path):
    hp = start_with_copies(hop, tmp_path)
    keep = connect_any_name(hp.port)
    h1 = Conn(sock=keep)
    assert h1.request("GET", "/", host="localhost").status == 200
    reload(hp)
    assert h1.request("GET", "/", host="localhost").status == 200
    keep.close()
    with connect_any_name(hp.port) as s:
        assert peer_cn(s) == "localhost"


def test_reload_to_broken_key_keeps_the_old_certificate(hop, tmp_path):
    # A key that does not match its certificate is refused on reload; the old pair stays.
    hp = start_with_copies(hop, tmp_path)
    swap_in(OTHER[1], hp.key)  # localhost.pem with other-key.pem
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(hp.admin, "hop_config_reloads_total", result="rejected") == 1, timeout=5), \
        hp.stderr()
    with connect_any_name(hp.port) as s:
        assert peer_cn(s) == "localhost"
        assert Conn(sock=s).request("GET", "/", host="localhost").status == 200
