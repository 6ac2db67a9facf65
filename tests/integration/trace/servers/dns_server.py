"""A one-zone UDP DNS server for the trace tests: app.test. A 127.0.0.1 with TTL 300,
NXDOMAIN for every other name. Prints "ready" once bound."""
import socket
import sys

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            query = dns.message.from_wire(data)
        except Exception:
            continue
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        q = query.question[0]
        if q.name.to_text().lower() == "app.test.":
            if q.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(q.name, 300, "IN", "A", "127.0.0.1"))
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(reply.to_wire(), peer)


if __name__ == "__main__":
    main()
