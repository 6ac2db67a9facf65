"""Malformed and unusual queries (issue 25), differential: hop, Knot DNS and NSD serve the
same zone file and get the same messages, over UDP and over TCP. hop must give the answer
docs/dns.md ("Unusual queries") promises, and that answer must be the one of the peer the
table names -- or of neither, where hop deliberately differs from both.

An answer is compared by what tells a client how to go on: its rcode (extended bits
included), whether it carries an OPT, the DO bit in it, AA, and whether the authority
section holds the SOA (a cacheable negative answer). EDNS options (the peers' Extended DNS
Errors) and NSD's habit of adding the zone's NS set are not compared.
"""
import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

import conftest
from conftest import wait_until

ORIGIN = "conf.test."
ZONE = """$ORIGIN conf.test.
$TTL 300
@        IN SOA   ns1.conf.test. hostmaster.conf.test. 1 3600 600 604800 60
@        IN NS    ns1
ns1      IN A     127.0.0.1
www      IN A     10.0.0.3
"""
DO = 0x8000


def name(text):
    return b"".join(bytes([len(label)]) + label.encode() for label in text.rstrip(".").split(".") if label) + b"\0"


def header(flags=0x0100, qd=1, an=0, ns=0, ar=0, opcode=0):
    return struct.pack(">HHHHHH", 0x4242, flags | opcode << 11, qd, an, ns, ar)


def question(owner, rdtype, rdclass=1):
    return name(owner) + struct.pack(">HH", rdtype, rdclass)


def opt(options=b"", ttl=0, owner="."):
    return name(owner) + struct.pack(">HHIH", 41, 1232, ttl, len(options)) + options


def soa(owner):
    rdata = name("ns1.conf.test") + name("hostmaster.conf.test") + struct.pack(">IIIII", 1, 3600, 600, 604800, 60)
    return name(owner) + struct.pack(">HHIH", 6, 1, 300, len(rdata)) + rdata


def ecs(body):
    return struct.pack(">HH", 8, len(body)) + body


def with_opt(options, ttl=DO):
    """An A query for www with one OPT carrying `options` as given."""
    return header(ar=1) + question("www.conf.test", 1) + opt(options, ttl)


def made(rdtype, rdclass="IN", qname="ns1.conf.test", do=False, edns=0, opcode=None):
    """A query made by dnspython, as a client library would send it."""
    q = dns.message.make_query(qname, rdtype, rdclass=rdclass, use_edns=edns, want_dnssec=do)
    if opcode is not None:
        q.set_opcode(opcode)
        q.flags &= ~dns.flags.RD
    return q.to_wire()


COOKIE = struct.pack(">HH", 10, 8) + bytes(range(1, 9))

# (case, query, hop's answer over UDP, over TCP, the peers whose answer equals hop's: one set
# for both transports, or a pair (UDP, TCP)). An answer: (rcode, OPT, DO, AA, SOA in authority).
FORMERR_OPT = ("FORMERR", True, True, False, False)
CASES = [
    ("ecs bits past the source prefix", with_opt(ecs(b"\x00\x01\x14\x00\xc0\x00\x2f")), FORMERR_OPT, FORMERR_OPT, set()),
    ("ecs too many address octets", with_opt(ecs(b"\x00\x01\x10\x00\xc0\x00\x02")), FORMERR_OPT, FORMERR_OPT, set()),
    ("ecs ipv4 prefix 33", with_opt(ecs(b"\x00\x01\x21\x00\xc0\x00\x02\x00\x00")), FORMERR_OPT, FORMERR_OPT, set()),
    ("ecs unknown family", with_opt(ecs(b"\x00\x03\x08\x00\x01")), FORMERR_OPT, FORMERR_OPT, set()),
    ("ecs nonzero scope", with_opt(ecs(b"\x00\x01\x18\x08\xc0\x00\x02")), FORMERR_OPT, FORMERR_OPT, set()),
    ("ecs shorter than its fixed part", with_opt(ecs(b"\x00\x01")), FORMERR_OPT, FORMERR_OPT, set()),
    ("option length past the rdata", with_opt(struct.pack(">HH", 10, 20) + bytes(8)), FORMERR_OPT, FORMERR_OPT, set()),
    ("opt owner not root", header(ar=1) + question("www.conf.test", 1) + opt(ttl=DO, owner="www.conf.test"),
     FORMERR_OPT, FORMERR_OPT, set()),
    ("two opt records", header(ar=2) + question("www.conf.test", 1) + opt(ttl=DO) + opt(), FORMERR_OPT, FORMERR_OPT,
     set()),
    ("qdcount 0 with edns", header(qd=0, ar=1) + opt(ttl=DO), FORMERR_OPT, FORMERR_OPT, {"knot"}),
    ("qdcount 0 with edns and a cookie", header(qd=0, ar=1) + opt(COOKIE), ("FORMERR", True, False, False, False),
     ("FORMERR", True, False, False, False), {"knot"}),
    ("qdcount 0 without edns", header(qd=0), ("FORMERR", False, False, False, False),
     ("FORMERR", False, False, False, False), ({"knot", "nsd"}, {"knot"})),
    ("do on an answer", made("A", do=True), ("NOERROR", True, True, True, False), ("NOERROR", True, True, True, False),
     {"knot", "nsd"}),
    ("do on nxdomain", made("A", qname="nx.conf.test", do=True), ("NXDOMAIN", True, True, True, True),
     ("NXDOMAIN", True, True, True, True), {"knot", "nsd"}),
    ("do on refused", made("A", qname="example.com", do=True), ("REFUSED", True, True, False, False),
     ("REFUSED", True, True, False, False), {"knot", "nsd"}),
    ("do on badvers", header(ar=1) + question("ns1.conf.test", 1) + opt(ttl=DO | 1 << 16),
     ("BADVERS", True, True, False, False), ("BADVERS", True, True, False, False), {"knot"}),
    ("unknown opcode with edns", header(ar=1, opcode=2) + question("conf.test", 6) + opt(ttl=DO),
     ("NOTIMP", True, True, False, False), ("NOTIMP", True, True, False, False), {"knot"}),
    ("opcode update", header(opcode=5) + question("conf.test", 6), ("NOTIMP", False, False, False, False),
     ("NOTIMP", False, False, False, False), {"nsd"}),
    ("ixfr rfc 1995 form", header(ns=1, ar=1) + question("conf.test", 251) + soa("conf.test") + opt(),
     ("REFUSED", True, False, False, False), ("REFUSED", True, False, False, False), {"nsd"}),
    ("ixfr of a name that is no zone", header(ns=1, ar=1) + question("www.conf.test", 251) + soa("www.conf.test") + opt(),
     ("NOTAUTH", True, False, False, False), ("NOTAUTH", True, False, False, False), {"knot", "nsd"}),
    ("axfr", made("AXFR", qname="conf.test"), ("NOTIMP", True, False, False, False),
     ("REFUSED", True, False, False, False), ({"knot", "nsd"}, {"nsd"})),
    ("axfr outside every zone", made("AXFR", qname="example.com", edns=-1), ("NOTIMP", False, False, False, False),
     ("NOTAUTH", False, False, False, False), {"knot", "nsd"}),
    ("notify", made("SOA", qname="conf.test", opcode=dns.opcode.NOTIFY), ("REFUSED", True, False, False, False),
     ("REFUSED", True, False, False, False), set()),
    ("notify without edns", made("SOA", qname="conf.test", edns=-1, opcode=dns.opcode.NOTIFY),
     ("REFUSED", False, False, False, False), ("REFUSED", False, False, False, False), {"nsd"}),
    ("notify outside every zone", made("SOA", qname="example.com", edns=-1, opcode=dns.opcode.NOTIFY),
     ("NOTAUTH", False, False, False, False), ("NOTAUTH", False, False, False, False), {"knot"}),
    ("id.server", made("TXT", "CH", "id.server"), ("REFUSED", True, False, False, False),
     ("REFUSED", True, False, False, False), set()),
    ("version.bind", made("TXT", "CH", "version.bind"), ("REFUSED", True, False, False, False),
     ("REFUSED", True, False, False, False), set()),
    ("class any", made("A", "ANY"), ("NOERROR", True, False, False, False), ("NOERROR", True, False, False, False),
     {"nsd"}),
    ("class any nxdomain", made("A", "ANY", "nx.conf.test"), ("NXDOMAIN", True, False, False, False),
     ("NXDOMAIN", True, False, False, False), {"nsd"}),
    ("qtype opt", header(ar=1) + question("ns1.conf.test", 41) + opt(), ("NOERROR", True, False, True, True),
     ("NOERROR", True, False, True, True), {"knot", "nsd"}),
    ("qtype mailb", made("MAILB"), ("NOERROR", True, False, True, True), ("NOERROR", True, False, True, True),
     {"knot", "nsd"}),
    ("qtype maila", made("MAILA"), ("NOERROR", True, False, True, True), ("NOERROR", True, False, True, True),
     {"knot", "nsd"}),
]


def send(port, wire, tcp):
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(len(wire).to_bytes(2, "big") + wire)
            f = s.makefile("rb")
            try:
                n = f.read(2)
                return f.read(int.from_bytes(n, "big")) if len(n) == 2 else None
            except ConnectionResetError:  # NSD resets some connections instead of answering
                return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(wire, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def summary(wire):
    """(rcode, OPT, DO, AA, SOA in authority); dnspython, or the header when it cannot parse
    what a peer sent."""
    if wire is None:
        return None
    try:
        r = dns.message.from_wire(wire)
    except Exception:  # noqa: BLE001 -- a peer's answer dnspython refuses is compared by its header
        return (dns.rcode.to_text(wire[3] & 0xF), None, None, bool(wire[2] & 0x04), None)
    has_soa = any(rr.rdtype == dns.rdatatype.SOA for rr in r.authority)
    return (dns.rcode.to_text(r.rcode()), r.edns >= 0, bool(r.ednsflags & dns.flags.DO),
            bool(r.flags & dns.flags.AA), has_soa)


def up(port):
    def probe():
        try:
            q = dns.message.make_query(ORIGIN, "SOA")
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=0.3).rcode() == dns.rcode.NOERROR
        except Exception:  # noqa: BLE001 -- not up yet
            return False
    return probe


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conformance")
    zone_file = tmp / "conf.test.zone"
    zone_file.write_text(ZONE)
    procs, ports = [], {}
    try:
        p, ports["hop"] = conftest.start_hop(tmp, zone_file, ORIGIN)
        procs.append(p)
        for kind in ("knot", "nsd"):
            p, ports[kind] = conftest.start_peer(kind, zone_file, ORIGIN, tmp)
            procs.append(p)
        for who, port in ports.items():
            assert wait_until(up(port), 20.0), f"{who} does not answer on {port}"
        yield ports
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except Exception:  # noqa: BLE001
                p.kill()


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("case,query,want_udp,want_tcp,peers", CASES, ids=[c[0] for c in CASES])
def test_hop_answers_as_documented_and_as_the_named_peer(servers, case, query, want_udp, want_tcp, peers, tcp):
    got = {who: summary(send(port, query, tcp)) for who, port in servers.items()}
    want = want_tcp if tcp else want_udp
    if isinstance(peers, tuple):
        peers = peers[tcp]
    assert got["hop"] == want, f"{case}: hop answered {got['hop']}, docs/dns.md says {want}"
    matching = {peer for peer in ("knot", "nsd") if got[peer] == got["hop"]}
    assert matching == peers, f"{case}: hop's answer {got['hop']} matches {matching or 'neither peer'}, " \
                              f"the table says {peers or 'neither'}; knot {got['knot']}, nsd {got['nsd']}"


def test_notify_answer_keeps_the_notify_opcode_and_question(servers):
    """RFC 1996 §4.7 clients match the answer to their NOTIFY by opcode and question."""
    q = dns.message.make_query(ORIGIN, "SOA", use_edns=0)
    q.set_opcode(dns.opcode.NOTIFY)
    for tcp in (False, True):
        r = dns.message.from_wire(send(servers["hop"], q.to_wire(), tcp))
        assert r.opcode() == dns.opcode.NOTIFY and r.rcode() == dns.rcode.REFUSED
        assert r.question[0].name.to_text() == ORIGIN


def test_class_any_answer_holds_the_class_in_records(servers):
    q = dns.message.make_query("ns1." + ORIGIN, "A", rdclass=dns.rdataclass.ANY)
    for tcp in (False, True):
        r = dns.message.from_wire(send(servers["hop"], q.to_wire(), tcp))
        assert r.question[0].rdclass == dns.rdataclass.ANY
        assert [(rr.rdclass, rr[0].address) for rr in r.answer] == [(dns.rdataclass.IN, "127.0.0.1")]
