"""RFC 9113 frame-level abuse over cleartext h2c (prior knowledge), raw frames from hyperframe.

Every case checks what hop answers (GOAWAY / RST_STREAM and its error code, a 431, a close)
and then that hop keeps serving: a fresh h2c client and an HTTP/1.1 client get 200.

HOP_H2_RAW_TLS=1 runs the same cases over hop's TLS listener (ALPN h2) instead: a diagnostic
for telling the h2c hand-off apart from the HTTP/2 session logic.
"""
import os
import socket
import ssl
import time

import pytest
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame,
                              SettingsFrame, Frame)

from h2_helpers import (CANCEL, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, INTERNAL_ERROR, NO_ERROR, PREFACE,
                        PROTOCOL_ERROR, REFUSED_STREAM, STREAM_CLOSED, BlackholeUpstream, RawH2, RssSampler, Sender,
                        assert_serving, connect, errname, rss_kib)
from http_raw import metric

RSS_LIMIT_KIB = 64 * 1024
RAW_TLS = os.environ.get("HOP_H2_RAW_TLS") == "1"


def start(hop, **kw):
    hp = hop.start(tls=RAW_TLS, **kw)
    hp.raw_port = hp.tls_port if RAW_TLS else hp.port
    return hp


def summary(c):
    kinds = {}
    for f in c.frames:
        kinds[type(f).__name__] = kinds.get(type(f).__name__, 0) + 1
    g = c.goaway and (errname(c.goaway[0]), c.goaway[1], c.goaway[2])
    resets = {sid: errname(s.reset) for sid, s in c.streams.items() if s.reset is not None}
    return f"frames={kinds} goaway={g} resets={resets} closed={c.closed}"


def expect_connection_error(c, codes, goaway_required=True, timeout=5.0):
    """A connection error: GOAWAY with one of `codes` (if required or present), then the
    connection closes (RFC 9113 §5.4.1: after a GOAWAY for an error, close the connection)."""
    c.wait_closed(timeout)
    assert c.closed, f"connection not closed within {timeout}s: {summary(c)}"
    if goaway_required:
        assert c.goaway is not None, f"closed without GOAWAY: {summary(c)}"
    if c.goaway is not None:
        assert c.goaway[0] in codes, f"GOAWAY {errname(c.goaway[0])}, want {[errname(x) for x in codes]}: " \
                                     f"{summary(c)}"


def opened(hp, settings=None, ack_settings=True):
    """A connection past the preface: our SETTINGS sent, hop's SETTINGS received (and acked)."""
    c = RawH2(hp.raw_port, tls=RAW_TLS)
    c.ack_settings = ack_settings
    c.start(settings)
    assert c.pump(lambda: bool(c.server_settings) or any(isinstance(f, SettingsFrame) for f in c.frames),
                  timeout=5), f"no SETTINGS from hop: {summary(c)}"
    return c


def after(hp, what):
    assert hp.alive(), f"hop died after {what}:\n{hp.stderr()[-2000:]}"
    assert_serving(hp.port, what, h2_port=hp.raw_port, tls=RAW_TLS)


# ------------------------------------------------------------------ connection preface

def read_all(sock, timeout=5.0):
    """Bytes until EOF; (data, closed)."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, ssl.SSLError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def parse_frames(data):
    frames = []
    while len(data) >= 9:
        f, length = Frame.parse_frame_header(memoryview(data[:9]))
        if len(data) < 9 + length:
            break
        f.parse_body(memoryview(data[9:9 + length]))
        frames.append(f)
        data = data[9 + length:]
    return frames


@pytest.mark.parametrize("junk", [
    b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00\x01\x02garbage" * 8,    # broken second half of the magic
    b"PRI * HTTP/2.0\r\n\r\n" + b"\xff" * 64,                              # garbage right after the first line
], ids=["bad-magic-tail", "garbage-after-pri"])
def test_bad_connection_preface_closes_the_connection(hop, junk):
    hp = start(hop)
    with connect(hp.raw_port, timeout=5, tls=RAW_TLS) as s:
        s.sendall(junk)
        data, closed = read_all(s)
    assert closed, f"connection still open after a bad preface; got {data[:300]!r}"
    if data.startswith(b"HTTP/1."):
        # The cleartext listener also speaks HTTP/1.1: a 4xx/5xx for "PRI * HTTP/2.0" is a close too.
        status = int(data.split(b" ", 2)[1])
        assert 400 <= status < 600, data[:300]
    elif data:
        # hop's own preface (SETTINGS, WINDOW_UPDATE) may precede the close; no responses.
        frames = parse_frames(data)
        kinds = {type(f).__name__ for f in frames}
        assert kinds <= {"SettingsFrame", "WindowUpdateFrame", "GoAwayFrame"}, (kinds, data[:300])
        goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
        if goaways:
            assert goaways[-1].error_code == PROTOCOL_ERROR, errname(goaways[-1].error_code)
    after(hp, "bad preface")


def test_preface_not_followed_by_settings_is_a_protocol_error(hop):
    """RFC 9113 §3.4: the client preface is the magic then a SETTINGS frame; anything else
    (here a PING) is a connection error PROTOCOL_ERROR."""
    hp = start(hop)
    with connect(hp.raw_port, timeout=5, tls=RAW_TLS) as s:
        s.sendall(PREFACE + PingFrame(0, opaque_data=b"12345678").serialize())
        data, closed = read_all(s)
    assert closed, f"connection still open; got {data[:300]!r}"
    goaways = [f for f in parse_frames(data) if isinstance(f, GoAwayFrame)]
    if goaways:
        assert goaways[-1].error_code == PROTOCOL_ERROR, errname(goaways[-1].error_code)
    after(hp, "PING instead of SETTINGS")


# ------------------------------------------------------------------ stream states (RFC 9113 §5.1)

def test_data_on_a_stream_never_opened_is_a_protocol_error(hop):
    """§5.1 idle: any frame but HEADERS/PRIORITY → connection error PROTOCOL_ERROR."""
    hp = start(hop)
    with opened(hp) as c:
        df = DataFrame(5, data=b"hello")
        df.flags.add("END_STREAM")
        c.send(df)
        expect_connection_error(c, [PROTOCOL_ERROR])
    after(hp, "DATA on idle stream")


def test_data_on_a_closed_stream_is_stream_closed(hop):
    """Stream 1 completed both ways (our END_STREAM, hop's END_STREAM); DATA on it afterwards:
    §5.1 "receives any frames after receiving a frame with the END_STREAM flag set MUST treat
    that as a connection error of type STREAM_CLOSED" (RST_STREAM STREAM_CLOSED accepted too)."""
    hp = start(hop)
    with opened(hp) as c:
        c.get(1, "/first")
        st = c.wait_stream(1)
        assert st.status == 200 and st.ended, summary(c)
        df = DataFrame(1, data=b"late")
        df.flags.add("END_STREAM")
        c.send(df)
        c.pump(lambda: c.goaway is not None or c.stream(1).reset is not None or c.closed, timeout=3)
        if c.stream(1).reset is not None and c.goaway is None:
            assert c.stream(1).reset == STREAM_CLOSED, summary(c)
        else:
            expect_connection_error(c, [STREAM_CLOSED, PROTOCOL_ERROR])
    after(hp, "DATA on closed stream")


def test_data_on_a_half_closed_remote_stream_is_stream_closed(hop):
    """Our HEADERS carried END_STREAM, hop is still answering (/delay): §5.1 half-closed
    (remote): further DATA → stream error STREAM_CLOSED (a connection error STREAM_CLOSED is
    allowed by the END_STREAM rule)."""
    hp = start(hop)
    with opened(hp) as c:
        c.get(1, "/delay/1000")
        df = DataFrame(1, data=b"late")
        c.send(df)
        c.pump(lambda: c.goaway is not None or c.stream(1).reset is not None or c.closed, timeout=3)
        if c.goaway is None and not c.closed:
            assert c.stream(1).reset == STREAM_CLOSED, summary(c)
        else:
            expect_connection_error(c, [STREAM_CLOSED, PROTOCOL_ERROR])
    after(hp, "DATA on half-closed stream")


def test_headers_on_an_even_stream_id_is_a_protocol_error(hop):
    """§5.1.1: client-initiated streams are odd; HEADERS on stream 2 → PROTOCOL_ERROR."""
    hp = start(hop)
    with opened(hp) as c:
        c.get(2, "/even")
        expect_connection_error(c, [PROTOCOL_ERROR])
        assert 2 not in c.streams or c.streams[2].status is None, summary(c)
    after(hp, "HEADERS on even stream")


def test_headers_on_a_lower_stream_id_than_a_previous_one_is_a_protocol_error(hop):
    """§5.1.1: a new stream id must exceed every id the client opened before."""
    hp = start(hop)
    with opened(hp) as c:
        c.get(5, "/five")
        assert c.wait_stream(5).status == 200, summary(c)
        c.get(3, "/three")
        expect_connection_error(c, [PROTOCOL_ERROR])
    after(hp, "HEADERS with a decreasing stream id")


# ------------------------------------------------------------------ flow control (§6.9)

def blast_data(c, sid, total, path="/sink/upload"):
    """HEADERS (POST, no END_STREAM) then `total` bytes of DATA, ignoring every window."""
    c.send(c.headers_frame(sid, method="POST", path=path, end_stream=False))
    chunk = b"z" * 16384
    frames = []
    for _ in range(total // len(chunk)):
        frames.append(DataFrame(sid, data=chunk).serialize())
    batches = [b"".join(frames[i:i + 64]) for i in range(0, len(frames), 64)]
    s = Sender(c, batches)
    s.start()
    return s


def test_data_beyond_the_stream_window_is_a_flow_control_error(hop):
    """hop advertises a 65535-byte stream window; the upstream (a socket that never reads)
    takes nothing, so 12 MiB on one stream overflows it: FLOW_CONTROL_ERROR as RST_STREAM on
    that stream or GOAWAY (§6.9.1)."""
    sink = BlackholeUpstream()
    try:
        hp = start(hop, http2={"initial_stream_window": 65535, "connection_window": "64MiB"}, sink_port=sink.port)
        with opened(hp) as c:
            assert c.server_settings.get(SettingsFrame.INITIAL_WINDOW_SIZE, 65535) == 65535, c.server_settings
            s = blast_data(c, 1, 12 << 20)
            c.pump(lambda: c.stream(1).reset is not None or c.goaway is not None or c.closed, timeout=10)
            s.join(10)
            if c.goaway is not None or c.closed:
                expect_connection_error(c, [FLOW_CONTROL_ERROR])
            else:
                assert c.stream(1).reset == FLOW_CONTROL_ERROR, summary(c)
        after(hp, "stream window overflow")
    finally:
        sink.close()


def test_data_beyond_the_connection_window_is_a_connection_flow_control_error(hop):
    """Connection window 65535 (the minimum), stream window 1 MiB: overflowing the connection
    window is a connection error FLOW_CONTROL_ERROR (GOAWAY, then close)."""
    sink = BlackholeUpstream()
    try:
        hp = start(hop, http2={"initial_stream_window": "1MiB", "connection_window": 65535}, sink_port=sink.port)
        with opened(hp) as c:
            s = blast_data(c, 1, 12 << 20)
            expect_connection_error(c, [FLOW_CONTROL_ERROR], timeout=10)
            s.join(10)
        after(hp, "connection window overflow")
    finally:
        sink.close()


# ------------------------------------------------------------------ floods

def flood(c, frame_bytes, count, per_batch=500):
    batches = [frame_bytes * per_batch for _ in range(count // per_batch)]
    s = Sender(c, batches)
    s.start()
    return s


@pytest.mark.parametrize("frame, what", [(SettingsFrame(0), "SETTINGS flood"),
                                         (PingFrame(0, opaque_data=b"pingpong"), "PING flood")])
def test_control_frame_flood_gets_enhance_your_calm(hop, frame, what):
    hp = start(hop)
    with opened(hp) as c:
        s = flood(c, frame.serialize(), 10000)
        expect_connection_error(c, [ENHANCE_YOUR_CALM])
        s.join(10)
    after(hp, what)


def test_rapid_reset_gets_goaway(hop):
    """CVE-2023-44487: thousands of streams opened and cancelled at once → GOAWAY and close."""
    hp = start(hop)
    with opened(hp) as c:
        batches = []
        sid = 1
        for _ in range(40):
            b = b""
            for _ in range(100):
                b += c.headers_frame(sid, path="/rapid").serialize()
                b += RstStreamFrame(sid, error_code=CANCEL).serialize()
                sid += 2
            batches.append(b)
        s = Sender(c, batches)
        s.start()
        expect_connection_error(c, [ENHANCE_YOUR_CALM, INTERNAL_ERROR], timeout=10)
        s.join(10)
    after(hp, "rapid reset")


def test_provoked_resets_get_goaway(hop):
    """MadeYouReset (CVE-2025-8671): streams the client makes hop reset -- here DATA past the
    content-length it announced -- each may have cost an upstream request; they count
    against the same budget as the client's own resets: GOAWAY and close. Paced (ten pairs,
    then wait for their resets) so the streams never pile up past the concurrency limit."""
    hp = start(hop)
    with opened(hp) as c:
        sid = 1
        for _ in range(150):
            if c.goaway is not None or c.closed:
                break
            b = b""
            first = sid
            for _ in range(10):
                b += c.headers_frame(sid, end_stream=False, path="/provoked", extra=[("content-length", "0")]).serialize()
                d = DataFrame(sid, data=b"x")
                d.flags.add("END_STREAM")
                b += d.serialize()
                sid += 2
            try:
                c.send_raw(b)
            except OSError:
                break
            c.pump(lambda: c.stream(sid - 2).reset is not None or c.goaway is not None or c.closed, timeout=5)
            assert c.goaway is not None or c.closed or c.stream(first).reset is not None, summary(c)
        expect_connection_error(c, [ENHANCE_YOUR_CALM], timeout=10)
        assert sid < 1 + 2 * 1200, "no GOAWAY after 1,100 provoked resets"
    after(hp, "provoked resets")


def test_continuation_flood_closes_quickly_with_flat_memory(hop):
    """HEADERS without END_HEADERS, then up to 100 000 CONTINUATION frames of 1 KiB each (a
    valid HPACK literal per frame): hop drops the connection after max_continuations (8),
    without buffering the header block (VmRSS sampled, < 64 MiB)."""
    hp = start(hop)
    with opened(hp) as c:
        first = c.headers_frame(1, path="/cont", end_stream=True, end_headers=False)
        # literal without indexing, no Huffman: 1 KiB of header per frame, nothing stored
        lit = c.enc.encode([("x-filler", "v" * 1000, True)], huffman=False)  # never indexed
        assert lit[0] & 0xF0 == 0x10 and len(lit) > 1000, lit[:4]
        one = ContinuationFrame(1, data=lit).serialize()
        batch = one * 64
        start_rss = rss_kib(hp.pid)
        with RssSampler(hp.pid, interval=0.01) as rss:
            c.send(first)
            s = Sender(c, (batch for _ in range(100000 // 64)))
            s.start()
            t0 = time.monotonic()
            expect_connection_error(c, [PROTOCOL_ERROR, ENHANCE_YOUR_CALM, INTERNAL_ERROR], goaway_required=False,
                                    timeout=5)
            took = time.monotonic() - t0
            s.join(10)
        print(f"closed after {took:.2f}s, {s.sent} bytes sent; RSS start {start_rss} KiB peak {rss.peak} KiB")
        assert s.sent < 50 * 1024 * 1024, f"hop read {s.sent} bytes of CONTINUATIONs before closing"
        assert rss.peak < RSS_LIMIT_KIB, f"peak RSS {rss.peak} KiB (start {start_rss} KiB)"
    after(hp, "CONTINUATION flood")


# ------------------------------------------------------------------ header list size, concurrency

def test_oversized_header_list_gets_431_and_the_connection_stays_usable(hop):
    """100 KiB of request headers (limit 64 KiB), in HEADERS + 6 CONTINUATIONs (under
    max_continuations: 8) → :status 431 on that stream; the next stream on the same
    connection gets 200."""
    hp = start(hop)
    with opened(hp) as c:
        big = [(f"x-big-{i}", f"{i:04d}" + "a" * 1996) for i in range(50)]
        block = c.header_block(path="/big", extra=big, huffman=False)
        assert len(block) > 100_000
        parts = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        assert len(parts) - 1 <= 8, len(parts)
        frames = [c.headers_frame(1, block=parts[0], end_stream=True, end_headers=len(parts) == 1)]
        for i, p in enumerate(parts[1:], 1):
            f = ContinuationFrame(1, data=p)
            if i == len(parts) - 1:
                f.flags.add("END_HEADERS")
            frames.append(f)
        c.send(*frames)
        st = c.wait_stream(1)
        assert st.status == 431, summary(c)
        assert c.goaway is None and not c.closed, summary(c)
        c.get(3, "/after-431")
        st3 = c.wait_stream(3)
        assert st3.status == 200 and st3.ended, summary(c)
    after(hp, "oversized header list")


def _ten_slow_requests(c):
    sids = list(range(1, 21, 2))
    c.send(*[c.headers_frame(sid, path=f"/delay/1000?s={sid}") for sid in sids])
    return sids


def test_streams_beyond_max_concurrent_streams_are_refused_and_the_others_served(hop):
    """max_concurrent_streams: 4, announced but not yet acknowledged by the client; ten
    requests (/delay/1000) in one write: the first four are served, the other six refused
    with REFUSED_STREAM (RFC 9113 §5.1.2) and never sent upstream; the connection stays."""
    hp = start(hop, http2={"max_concurrent_streams": 4})
    with opened(hp, ack_settings=False) as c:
        assert c.server_settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS) == 4, c.server_settings
        sids = _ten_slow_requests(c)
        c.pump(lambda: all(c.stream(s).ended or c.stream(s).reset is not None for s in sids) or c.closed,
               timeout=10)
        served = [s for s in sids if c.stream(s).status == 200 and c.stream(s).ended]
        refused = {s: errname(c.stream(s).reset) for s in sids if c.stream(s).reset is not None}
        assert c.goaway is None and not c.closed, summary(c)
        assert served == sids[:4], f"the four streams within the limit must be answered 200: {summary(c)}"
        assert refused == {s: "REFUSED_STREAM" for s in sids[4:]}, summary(c)
        assert all(c.stream(s).status is None for s in sids[4:]), summary(c)  # refused: no response
        assert metric(hp.admin, "hop_upstream_requests_total", cluster="app") == 4
        c.ack()
        c.get(21, "/after-refused")
        assert c.wait_stream(21).status == 200, summary(c)
    after(hp, "too many concurrent streams")


def test_streams_beyond_an_acknowledged_max_concurrent_streams_end_the_connection(hop):
    """The same ten requests after the client acknowledged max_concurrent_streams: 4 (a PING
    answered after the ACK proves hop read it). nghttp2 1.52 makes an over-limit HEADERS then
    a connection error -- RFC 9113 §5.1.2 would allow a stream error, but the library offers
    no way to keep the session; the client broke a limit it had acknowledged: GOAWAY
    (PROTOCOL_ERROR, "max concurrent streams exceeded") whose last stream is the fourth, and a
    close. The six streams above it were not processed (a client may retry them): no
    response, nothing sent upstream for them."""
    hp = start(hop, http2={"max_concurrent_streams": 4})
    with opened(hp) as c:
        assert c.server_settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS) == 4, c.server_settings
        assert c.synced(), f"no PING ACK: {summary(c)}"
        sids = _ten_slow_requests(c)
        expect_connection_error(c, [PROTOCOL_ERROR])
        assert c.goaway[1] == sids[3], f"last stream {c.goaway[1]}, want {sids[3]}: {summary(c)}"
        assert b"max concurrent streams" in c.goaway[2], summary(c)
        assert not any(c.stream(s).headers or c.stream(s).data for s in sids[4:]), summary(c)
        assert metric(hp.admin, "hop_upstream_requests_total", cluster="app") <= 4
    after(hp, "too many concurrent streams after the ACK")


# ------------------------------------------------------------------ reading

@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_frames_in_back_to_back_writes_are_all_processed(hop, tls):
    """Three PINGs, each in its own write (over TLS: its own record), sent back to back: hop
    answers all three. A reader that stops after one short read (one TLS record) with
    edge-triggered readiness leaves the rest unread until the client sends again."""
    hp = hop.start(tls=True)
    with RawH2(hp.tls_port if tls else hp.port, tls=tls) as c:
        c.start()
        assert c.pump(lambda: bool(c.server_settings), timeout=5), summary(c)
        c.pump(timeout=0.2)
        for k in range(3):
            c.send(PingFrame(0, opaque_data=b"%08d" % k))
        acks = lambda: [f for f in c.frames if isinstance(f, PingFrame) and "ACK" in f.flags]  # noqa: E731
        c.pump(lambda: len(acks()) == 3, timeout=3)
        assert len(acks()) == 3, f"{len(acks())} PING ACKs of 3: {summary(c)}"


def test_a_header_block_left_unfinished_is_cut_at_the_header_timeout(hop):
    """The HTTP/2 slowloris: HEADERS without END_HEADERS and then nothing. The block must
    complete within the listener's header timeout; then GOAWAY(PROTOCOL_ERROR) and close."""
    hp = start(hop, listener_extra=["timeouts: { header_read: 1s }"])
    with opened(hp) as c:
        t0 = time.time()
        c.send(c.headers_frame(1, end_headers=False))
        expect_connection_error(c, [PROTOCOL_ERROR], goaway_required=False, timeout=5.0)
        assert time.time() - t0 < 4.0, "cut well after the 1 s header timeout"
    after(hp, "an unfinished header block")
