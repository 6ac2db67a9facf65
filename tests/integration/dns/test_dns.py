"""hop's authoritative DNS as a real process, queried with dig and dnspython."""
import collections
import socket
import subprocess
import time

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import ADMIN, PORT, wait_until
from hop_ports import watch_transition
from http_raw import metric

SERVER = "127.0.0.1"


def udp(name, rdtype="A", **kw):
    q = dns.message.make_query(name, rdtype, use_edns=kw.pop("use_edns", 0), **kw)
    return dns.query.udp(q, SERVER, port=PORT, timeout=2)


def dig(*args):
    return subprocess.run(["dig", f"@{SERVER}", "-p", str(PORT), "+tries=1", "+time=2", *args],
                          capture_output=True, text=True, timeout=20).stdout


def raw(packet, timeout=0.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(packet, (SERVER, PORT))
    try:
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def test_authoritative_answer_keeps_question_case(server):
    r = udp("NS1.Hop.Test")
    assert r.flags & dns.flags.AA
    assert r.question[0].name.to_text() == "NS1.Hop.Test."
    assert r.answer[0][0].address == "127.0.0.1"


def test_nxdomain_and_nodata_carry_soa(server):
    nx = udp("missing.hop.test")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.authority[0].rdtype == dns.rdatatype.SOA and nx.authority[0].ttl == 60
    nodata = udp("www.hop.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA


def test_cname_followed_and_records_served(server):
    r = udp("feed.hop.test")
    assert [a.rdtype for a in r.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    for rdtype in ("MX", "TXT", "SOA", "NS", "CAA"):
        assert udp("hop.test", rdtype).answer, rdtype
    assert "www.hop.test." in dig("_http._tcp.hop.test", "SRV")


def test_refused_outside_zone_and_any_minimal(server):
    assert udp("example.com").rcode() == dns.rcode.REFUSED
    r = udp("hop.test", "ANY")
    assert len(r.answer) == 1


def test_weighted_split_over_10000_queries(server):
    counts = collections.Counter()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    wire = dns.message.make_query("www.hop.test", "A").to_wire()
    for _ in range(10000):
        s.sendto(wire, (SERVER, PORT))
        counts[dns.message.from_wire(s.recv(4096)).answer[0][0].address] += 1
    total = sum(counts.values())
    assert total == 10000
    assert abs(counts["10.0.0.1"] / total - 0.90) <= 0.02, counts
    assert abs(counts["10.0.0.2"] / total - 0.10) <= 0.02, counts


def test_failover_within_interval_times_threshold_and_back(server, health_server):
    """examples/dns.yaml probes the primary every 1 s without jitter, unhealthy 2, healthy 2:
    the answer switches on the second probe that sees the change, no later than two intervals
    after it (plus hop's own turn-around); back to the primary no sooner than one interval
    after it returns (two successes are needed). The switch is bracketed by the polls around
    it (hop_ports.watch_transition): slow polls on a loaded machine widen the bracket instead
    of failing the test. There is no "no sooner" bound for failover: a probe that timed out
    before the change, on a loaded machine, already counts as one failure."""
    interval, threshold, turnaround = 1.0, 2, 0.5

    def api():
        try:
            return udp("api.hop.test").answer[0][0].address
        except dns.exception.Timeout:  # a datagram lost on a loaded machine: ask again
            return None

    assert wait_until(lambda: api() == "127.0.0.1", 5)
    before_stop = time.monotonic()
    health_server.stop()
    stopped = time.monotonic()
    down = watch_transition(lambda: api() == "127.0.0.2", timeout=8)
    assert down, "still the primary 8 s after its health target went away"
    before_start = time.monotonic()
    health_server.start()
    started = time.monotonic()
    up = watch_transition(lambda: api() == "127.0.0.1", timeout=8)
    assert up, "still the secondary 8 s after the primary's health target came back"
    print(f"\n[dns-failover] secondary after {down.last_false - stopped:.2f}..{down.first_true - before_stop:.2f} s, "
          f"primary again after {up.last_false - started:.2f}..{up.first_true - before_start:.2f} s")
    # Not before `threshold` successes: the first may come right after the return. (Less
    # 10 ms: hop's loop reads the clock once per turn, and probe timers count from there.)
    assert up.first_true - before_start >= interval * (threshold - 1) - 0.01, up
    # Still unswitched at last_false: that must be within `threshold` intervals of the change.
    assert down.last_false - stopped < interval * threshold + turnaround, down
    assert up.last_false - started < interval * threshold + turnaround, up


@pytest.mark.parametrize("subnet,want,scope", [("192.0.2.0", "10.1.0.1", 24), ("198.51.100.0", "10.2.0.1", 24),
                                               ("203.0.113.0", "10.9.0.1", 0)])
def test_geo_by_client_subnet(server, subnet, want, scope):
    r = udp("geo.hop.test", options=[dns.edns.ECSOption(subnet, 24)])
    assert r.answer[0][0].address == want
    ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)][0]
    assert ecs.scopelen == scope
    out = dig(f"+subnet={subnet}/24", "geo.hop.test")
    assert want in out


def test_geo_without_subnet_uses_source_address(server):
    assert udp("geo.hop.test").answer[0][0].address == "10.9.0.1"  # 127.0.0.1 is in no location


def test_truncation_then_tcp(server):
    r = udp("big.hop.test", "TXT")
    assert r.flags & dns.flags.TC and not r.answer
    full = dns.query.tcp(dns.message.make_query("big.hop.test", "TXT"), SERVER, port=PORT, timeout=2)
    assert len(full.answer[0]) == 6
    assert len(full.to_wire()) > 1232
    out = dig("big.hop.test", "TXT")
    assert "Truncated, retrying in TCP mode" in out and "chunk5-" in out


def test_pipelined_tcp(server):
    s = socket.create_connection((SERVER, PORT), timeout=2)
    msgs = [dns.message.make_query(n, "A", id=i) for i, n in enumerate(["ns1.hop.test", "www.hop.test", "mail.hop.test"] * 10)]
    s.sendall(b"".join(len(w).to_bytes(2, "big") + w for w in (m.to_wire() for m in msgs)))
    f = s.makefile("rb")
    for m in msgs:
        n = int.from_bytes(f.read(2), "big")
        r = dns.message.from_wire(f.read(n))
        assert r.id == m.id and r.answer
    s.close()


def test_malformed_packets_formerr_or_dropped_and_server_keeps_answering(server):
    good = dns.message.make_query("www.hop.test", "A").to_wire()
    # Truncated question.
    r = raw(good[:-3])
    assert r is not None and dns.message.from_wire(r, question_only=True).rcode() == dns.rcode.FORMERR
    # Label past the end, compression loop, forward pointer: FORMERR.
    header = good[:2] + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for body in (b"\x30abc\x00\x00\x01\x00\x01", b"\xc0\x0c\x00\x01\x00\x01", b"\x01a\xc0\x10\xc0\x0c\x00\x01\x00\x01"):
        r = raw(header + body)
        assert r is not None and (r[3] & 0x0F) == dns.rcode.FORMERR, body
    # Too short for a header, a response, an oversized datagram: dropped.
    assert raw(b"\x00\x01\x02") is None
    assert raw(good[:2] + b"\x80" + good[3:]) is None
    assert raw(b"\x00" * 9000) is None
    assert udp("ns1.hop.test").answer


def test_badvers(server):
    q = dns.message.make_query("www.hop.test", "A")
    q.use_edns(edns=1)  # make_query(use_edns=1) means "EDNS on", version 0
    r = dns.query.udp(q, SERVER, port=PORT, timeout=2, ignore_unexpected=True)
    assert r.rcode() == dns.rcode.BADVERS


def test_metrics_count_queries_and_policy_decisions(server):
    def counts():
        return (metric(ADMIN, "hop_dns_queries_total", qtype="A"),
                metric(ADMIN, "hop_dns_policy_decisions_total", decision="weighted"))

    queries, weighted = counts()
    for _ in range(5):
        udp("www.hop.test")
    assert wait_until(lambda: counts() == (queries + 5, weighted + 5), 3), (counts(), queries, weighted)
