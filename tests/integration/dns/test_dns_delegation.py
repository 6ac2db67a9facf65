"""Wildcards and delegations, differential: hop, Knot DNS and NSD load the same RFC 1035
zone file and get the same questions; their answers must agree record for record (rcode,
AA, and the answer, authority and additional sections, TTLs included).

Where the three servers legitimately differ (optional data an RFC leaves to the server),
the test says so and checks hop's behaviour on its own.
"""
import os
import subprocess
import sys
import urllib.request

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from hop_ports import free_port  # noqa: E402

import conftest  # noqa: E402
from conftest import hop_binary, wait_until  # noqa: E402

ORIGIN = "deleg.test."
ZONE = """$ORIGIN deleg.test.
$TTL 300
@        IN SOA   ns1.deleg.test. hostmaster.deleg.test. 1 3600 600 604800 60
@        IN NS    ns1
ns1      IN A     127.0.0.1
*        IN A     10.0.0.9
*.w      IN TXT   "wild"
real.w   IN A     10.0.0.1
x.y.w    IN A     10.0.0.2
*.c      IN CNAME www
www      IN A     10.0.0.3
to-wild  IN CNAME anything.w
x.*.e    IN A     10.0.0.4
sub      IN NS    ns1.sub
sub      IN NS    ns.elsewhere.example.
sub      IN NS    ns2.sub
ns1.sub  IN A     192.0.2.53
ns1.sub  IN AAAA  2001:db8::53
ns2.sub  IN A     192.0.2.54
other    IN NS    ns1
to-sub   IN CNAME host.sub
@        IN MX    10 mail
@        IN MX    20 mx.elsewhere.example.
mail     IN A     10.1.1.1
_s._tcp  IN SRV   1 2 3 srv
srv      IN AAAA  2001:db8::5
mx-sub   IN MX    10 ns1.sub
"""

# (name, type): wildcards, their limits, and names at, below and beside the cuts.
QUESTIONS = [
    ("anything.deleg.test.", "A"),
    ("Two.Labels.deleg.test.", "A"),
    ("anything.deleg.test.", "MX"),
    ("foo.w.deleg.test.", "TXT"),
    ("foo.w.deleg.test.", "A"),
    ("real.w.deleg.test.", "TXT"),
    ("y.w.deleg.test.", "TXT"),
    ("a.y.w.deleg.test.", "TXT"),
    ("other.e.deleg.test.", "A"),
    ("q.c.deleg.test.", "A"),
    ("to-wild.deleg.test.", "TXT"),
    ("www.deleg.test.", "A"),
    ("host.sub.deleg.test.", "A"),
    ("sub.deleg.test.", "NS"),
    ("sub.deleg.test.", "A"),
    ("ns1.sub.deleg.test.", "A"),
    ("ns1.sub.deleg.test.", "AAAA"),
    ("deep.er.sub.deleg.test.", "TXT"),
    ("x.sub.deleg.test.", "DS"),
    ("sub.deleg.test.", "DS"),
    ("host.other.deleg.test.", "A"),
    ("deleg.test.", "NS"),
    ("deleg.test.", "MX"),
    ("_s._tcp.deleg.test.", "SRV"),
    ("anything.deleg.test.", "ANY"),
]


def start_hop(tmp_path, zone_file, admin=None):
    return conftest.start_hop(tmp_path, zone_file, ORIGIN, admin)


def start_peer(kind, zone_file, tmp):
    return conftest.start_peer(kind, zone_file, ORIGIN, tmp)


def up(port):
    def probe():
        try:
            q = dns.message.make_query(ORIGIN, "SOA")
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=0.3).rcode() == dns.rcode.NOERROR
        except Exception:
            return False
    return probe


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deleg")
    zone_file = tmp / "deleg.test.zone"
    zone_file.write_text(ZONE)
    procs, ports = [], {}
    try:
        p, ports["hop"] = start_hop(tmp, zone_file)
        procs.append(p)
        for kind in ("knot", "nsd"):
            p, ports[kind] = start_peer(kind, zone_file, tmp)
            procs.append(p)
        for name, port in ports.items():
            assert wait_until(up(port), 20.0), f"{name} does not answer on {port}"
        yield ports
    finally:
        for p in procs:
            try:
                p.terminate()
                p.wait(10)
            except Exception:
                p.kill()


def ask(port, name, rdtype, tcp=False, edns=0):
    q = dns.message.make_query(name, rdtype, use_edns=edns)
    q.flags &= ~dns.flags.RD  # an authoritative server ignores RD; do not ask for recursion
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=3)


def section(rrsets):
    """Order-free, case-free view of a section: {(owner, type): (ttl, sorted rdata)}."""
    out = {}
    for rr in rrsets:
        if rr.rdtype == dns.rdatatype.OPT:
            continue
        out[(rr.name.to_text().lower(), dns.rdatatype.to_text(rr.rdtype))] = (
            rr.ttl, tuple(sorted(r.to_text().lower() for r in rr)))
    return out


def summary(r):
    return {
        "rcode": dns.rcode.to_text(r.rcode()),
        "aa": bool(r.flags & dns.flags.AA),
        "answer": section(r.answer),
        "authority": section(r.authority),
        "additional": section(r.additional),
    }


@pytest.mark.parametrize("name,rdtype", QUESTIONS)
def test_hop_answers_like_knot_and_nsd(servers, name, rdtype):
    got = {kind: summary(ask(port, name, rdtype)) for kind, port in servers.items()}
    assert got["hop"] == got["knot"], f"hop vs Knot for {name} {rdtype}:\n{got['hop']}\n{got['knot']}"
    hop, nsd = dict(got["hop"]), dict(got["nsd"])
    if nsd["aa"] and nsd["answer"]:
        # NSD adds the zone's NS set and its addresses to every positive answer; Knot and hop
        # answer minimally. Both are allowed (RFC 1034 §4.3.2 step 6): compare the rest.
        for d in (hop, nsd):
            d.pop("authority")
            d.pop("additional")
    assert hop == nsd, f"hop vs NSD for {name} {rdtype}:\n{hop}\n{nsd}"


def test_wildcard_answer_with_kdig_and_dig(servers):
    """The command-line clients operators use see the synthesized owner and AA."""
    out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(servers["hop"]), "+norecurse", "a.b.deleg.test.", "A"],
                         capture_output=True, text=True, timeout=20).stdout
    assert "status: NOERROR" in out and " aa" in out, out
    assert "a.b.deleg.test." in out and "10.0.0.9" in out, out
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(servers["hop"]), "+norecurse", "+tries=1", "+time=2",
                          "www.sub.deleg.test.", "A"], capture_output=True, text=True, timeout=20).stdout
    assert "status: NOERROR" in out, out
    assert "flags: qr;" in out, "a referral has no AA:\n" + out
    assert "AUTHORITY: 3" in out, out


def test_cname_into_a_delegation_ends_the_chain(servers):
    """RFC 1034 §4.3.2 lets the server add the referral after the CNAME (Knot, NSD) or stop
    at the CNAME, for the resolver to follow (hop): both are correct, and resolvers restart
    the query at the target either way."""
    r = ask(servers["hop"], "to-sub.deleg.test.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert [(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype)) for rr in r.answer] == [
        ("to-sub.deleg.test.", "CNAME")]


def test_glue_is_not_additional_data_for_mail_exchangers(servers):
    """An MX whose target lies below a cut: Knot adds the glue addresses it holds for it,
    hop does not, as BIND does not (glue is the child's data, RFC 2181 §5.4.1 ranks it
    below everything else); the resolver asks the child."""
    r = ask(servers["hop"], "mx-sub.deleg.test.", "MX")
    assert r.flags & dns.flags.AA and len(r.answer) == 1
    assert [rr for rr in r.additional if rr.rdtype != dns.rdatatype.OPT] == []


def test_referral_too_big_for_udp_is_truncated_and_complete_over_tcp(tmp_path):
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300", "@ IN SOA ns1 hostmaster 1 3600 600 604800 60", "@ IN NS ns1",
             "ns1 IN A 127.0.0.1"]
    for i in range(12):
        lines += [f"big IN NS name-server-{i}.big", f"name-server-{i}.big IN A 192.0.2.{i + 1}",
                  f"name-server-{i}.big IN AAAA 2001:db8::{i + 1}"]
    zone_file = tmp_path / "big.zone"
    zone_file.write_text("\n".join(lines) + "\n")
    proc, port = start_hop(tmp_path, zone_file)
    try:
        assert wait_until(up(port), 10.0), proc.stdout.read1().decode(errors="replace") if proc.poll() else "no answer"
        udp = ask(port, "www.big.deleg.test.", "A", edns=-1)
        assert udp.flags & dns.flags.TC, "required glue does not fit in 512 bytes: TC"
        tcp = ask(port, "www.big.deleg.test.", "A", tcp=True)
        assert not tcp.flags & dns.flags.TC
        assert len(tcp.authority[0]) == 12
        assert sum(len(rr) for rr in tcp.additional) == 24
    finally:
        proc.terminate()
        proc.wait(10)


def test_data_a_delegation_would_hide_is_refused_with_its_line(tmp_path):
    zone_file = tmp_path / "bad.zone"
    zone_file.write_text(f"$ORIGIN {ORIGIN}\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 60\n"
                         "sub IN NS ns.sub\nns.sub IN A 192.0.2.1\nmail.sub IN MX 10 mx\n")
    cfg = tmp_path / "hop.yaml"
    cfg.write_text(f"dns:\n  listen: [127.0.0.1:{free_port()}]\n  zones:\n    - {{origin: {ORIGIN}, file: {zone_file}}}\n")
    r = subprocess.run([hop_binary(), "check", "-c", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0, r.stdout + r.stderr
    msg = r.stdout + r.stderr
    assert f"{zone_file}:6:" in msg, msg
    assert "MX at mail.sub.deleg.test. is hidden by the delegation at sub.deleg.test." in msg, msg


def test_referrals_and_wildcard_answers_are_counted(tmp_path):
    zone_file = tmp_path / "z.zone"
    zone_file.write_text(ZONE)
    admin = free_port()
    proc, port = start_hop(tmp_path, zone_file, admin=admin)
    try:
        assert wait_until(up(port), 10.0)
        for name in ("a.deleg.test.", "b.deleg.test.", "c.w.deleg.test."):
            ask(port, name, "A")
        ask(port, "host.sub.deleg.test.", "A")
        ask(port, "www.deleg.test.", "A")  # neither
        text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.startswith("hop_dns_") and " " in line}
        # c.w has no A at *.w: a NODATA synthesized from the wildcard still counts as one.
        assert values["hop_dns_wildcard_answers_total"] == 3, values
        assert values["hop_dns_referrals_total"] == 1, values
    finally:
        proc.terminate()
        proc.wait(10)
