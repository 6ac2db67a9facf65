"""Session resumption seen by openssl s_client: tickets (TLS 1.2 and 1.3), ticket keys shared by
workers and kept across SIGHUP reloads, and the session cache (by session id) with tickets off."""
import signal
import subprocess

import pytest

from tls_helpers import CA, HTTP_REQUEST, config, free_port, listener, metric, s_client, tls_block, wait_until

VERSIONS = {"1.2": "-tls1_2", "1.3": "-tls1_3"}


def handshake(port, version, sess_out=None, sess_in=None, extra=()):
    """One s_client connection that sends a request and reads the response to the end, so the
    TLS 1.3 ticket (sent after the handshake) is read before the session is saved."""
    args = ["-servername", "localhost", "-CAfile", str(CA), VERSIONS[version], "-ign_eof", *extra]
    if sess_out:
        args += ["-sess_out", str(sess_out)]
    if sess_in:
        args += ["-sess_in", str(sess_in)]
    out = s_client(port, *args, input=HTTP_REQUEST)
    assert "HTTP/1.1 200" in out, out
    return out


def reused(out, version):
    return f"Reused, TLSv{version}" in out


def new_session(port, version, path):
    out = handshake(port, version, sess_out=path)
    assert f"New, TLSv{version}" in out, out
    assert path.exists() and path.stat().st_size > 0, out
    return out


def start(hop, workers=1, **tls):
    port, admin, backend = free_port(), free_port(), free_port()
    hp = hop.start(config([listener("https", port, tls=tls_block(**tls))], backends=[("b1", backend)],
                          admin=admin, workers=workers))
    hp.port, hp.admin = port, admin
    return hp


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_ticket_resumption(hop, tmp_path, version):
    hp = start(hop, session_tickets=True)
    sess = tmp_path / f"sess{version}.pem"
    out = new_session(hp.port, version, sess)
    assert "TLS session ticket" in out, out  # a ticket was issued
    out = handshake(hp.port, version, sess_in=sess)
    assert reused(out, version), out


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_ticket_resumption_across_workers(hop, tmp_path, version):
    # Two SO_REUSEPORT workers: whichever accepts, the ticket decrypts (keys shared by workers).
    hp = start(hop, workers=2, session_tickets=True)
    sess = tmp_path / "sess.pem"
    new_session(hp.port, version, sess)
    results = [reused(handshake(hp.port, version, sess_in=sess), version) for _ in range(8)]
    assert all(results), results


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_ticket_resumption_survives_sighup_reload(hop, tmp_path, version):
    hp = start(hop, session_tickets=True)
    sess = tmp_path / "sess.pem"
    new_session(hp.port, version, sess)
    before = metric(hp.admin, "hop_config_generation")
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(hp.admin, "hop_config_generation") > before, timeout=5), hp.stderr()
    out = handshake(hp.port, version, sess_in=sess)
    assert reused(out, version), out + "\nhop stderr:\n" + hp.stderr()


def test_ticket_resumption_survives_reload_that_changes_the_listener(hop, tmp_path):
    # A reload that edits the TLS section (ciphers untouched, rotation changed) keeps the keys.
    hp = start(hop, session_tickets=True)
    sess = tmp_path / "sess.pem"
    new_session(hp.port, "1.3", sess)
    cfg = hp.cfg
    cfg["listeners"][0]["tls"]["ticket_key_rotation"] = "6h"
    hp.rewrite(cfg)
    before = metric(hp.admin, "hop_config_generation")
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(hp.admin, "hop_config_generation") > before, timeout=5), hp.stderr()
    out = handshake(hp.port, "1.3", sess_in=sess)
    assert reused(out, "1.3"), out + "\nhop stderr:\n" + hp.stderr()


@pytest.mark.parametrize("workers", [1, 2])
def test_session_cache_resumes_tls12_without_tickets(hop, tmp_path, workers):
    hp = start(hop, workers=workers, session_tickets=False)
    sess = tmp_path / "sess.pem"
    out = new_session(hp.port, "1.2", sess)
    assert "TLS session ticket:" not in out, out  # no ticket: the session id is the handle
    m = [line for line in out.splitlines() if "Session-ID:" in line]
    assert m and m[0].split("Session-ID:")[1].strip(), out  # a non-empty session id
    # With two workers, whichever accepts finds the session (the cache is shared).
    for _ in range(1 if workers == 1 else 6):
        out = handshake(hp.port, "1.2", sess_in=sess)
        assert reused(out, "1.2"), out + "\nhop stderr:\n" + hp.stderr()


def test_session_cache_resumes_tls13_without_stateless_tickets(hop, tmp_path):
    # TLS 1.3 has no session ids: with stateless tickets off, OpenSSL issues stateful tickets
    # (handles into the session cache), which resume as well.
    hp = start(hop, session_tickets=False)
    sess = tmp_path / "sess.pem"
    new_session(hp.port, "1.3", sess)
    out = handshake(hp.port, "1.3", sess_in=sess)
    assert reused(out, "1.3"), out + "\nhop stderr:\n" + hp.stderr()


def test_session_cache_resumes_client_without_ticket_support(hop, tmp_path):
    # Tickets on, but the client refuses them (-no_ticket): the cache still resumes by session id.
    hp = start(hop, session_tickets=True)
    sess = tmp_path / "sess.pem"
    out = handshake(hp.port, "1.2", sess_out=sess, extra=["-no_ticket"])
    assert "New, TLSv1.2" in out, out
    out = handshake(hp.port, "1.2", sess_in=sess, extra=["-no_ticket"])
    assert reused(out, "1.2"), out


def key_file(path, seed):
    path.write_bytes(bytes((seed * 7 + i) % 256 for i in range(80)))
    return path


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_ticket_key_files_let_separate_processes_resume_each_others_sessions(hop, tmp_path, version):
    """Several hop processes behind one address: with the same ticket key file, a session
    from one resumes on the other; a process with other keys makes a full handshake."""
    shared = key_file(tmp_path / "ticket.key", 1)
    a = start(hop, session_tickets=True, ticket_keys=[str(shared)])
    b = start(hop, session_tickets=True, ticket_keys=[str(shared)])
    c = start(hop, session_tickets=True)  # random keys of its own
    sess = tmp_path / "sess.pem"
    new_session(a.port, version, sess)
    assert reused(handshake(b.port, version, sess_in=sess), version)
    assert not reused(handshake(c.port, version, sess_in=sess), version)


def test_ticket_key_rotation_by_files_and_reload(hop, tmp_path):
    """The first file encrypts, the others still decrypt: put a new key first, keep the old
    one second, reload, and sessions under the old key still resume."""
    old, new = key_file(tmp_path / "old.key", 1), key_file(tmp_path / "new.key", 2)
    port, admin, backend = free_port(), free_port(), free_port()
    cfg = lambda keys: config([listener("https", port, tls=tls_block(session_tickets=True, ticket_keys=keys))],  # noqa: E731
                              backends=[("b1", backend)], admin=admin)
    hp = hop.start(cfg([str(old)]))
    sess = tmp_path / "sess.pem"
    new_session(port, "1.3", sess)
    hp.rewrite(cfg([str(new), str(old)]))
    before = metric(admin, "hop_config_generation")
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(admin, "hop_config_generation") > before, timeout=5), hp.stderr()
    assert reused(handshake(port, "1.3", sess_in=sess), "1.3")
    # Dropping the old key ends resumption under it.
    hp.rewrite(cfg([str(new)]))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(admin, "hop_config_generation") > before + 1, timeout=5), hp.stderr()
    assert not reused(handshake(port, "1.3", sess_in=sess), "1.3")


def test_a_ticket_key_file_of_the_wrong_size_is_a_config_error(hop, tmp_path):
    bad = tmp_path / "short.key"
    bad.write_bytes(b"x" * 48)
    cfg_path = hop.write_config(config([listener("https", free_port(), tls=tls_block(ticket_keys=[str(bad)]))],
                                       cluster_hosts=[free_port()]))
    out = subprocess.run([hop.hop_bin, "check", "-c", str(cfg_path)], capture_output=True, text=True, timeout=20)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    line = next(i + 1 for i, l in enumerate(cfg_path.read_text().splitlines()) if "short.key" in l)
    assert f"{cfg_path}:{line}:" in text and "has 48 bytes; it must hold exactly 80" in text, text
