"""gRPC through hop: a python grpcio server behind a cluster with protocol h2c.

Generic handlers with raw bytes (no serializers), so no protoc is needed. Clients go through
hop's cleartext listener (h2c prior knowledge) and its TLS listener (ALPN h2).
"""
import threading
import time
from concurrent import futures

import grpc
import pytest

from h2_helpers import CA

SERVICE = "hop.test.Echo"
NO_PROXY = [("grpc.enable_http_proxy", 0)]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    def add(self, *e):
        with self.lock:
            self.events.append(e)

    def find(self, kind):
        with self.lock:
            return [e for e in self.events if e[0] == kind]


def make_server(rec):
    def unary(req, ctx):
        md = dict(ctx.invocation_metadata())
        rec.add("unary", req, md.get("x-client"))
        return b"echo:" + req

    def server_stream(req, ctx):
        n = int(req.decode())
        for i in range(n):
            yield b"msg-%d" % i

    def client_stream(it, ctx):
        parts = [m for m in it]
        return b"%d:" % len(parts) + b"|".join(parts)

    def bidi(it, ctx):
        for m in it:
            yield m.upper()

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + req.decode())

    def trailers(req, ctx):
        ctx.set_trailing_metadata((("x-trailer", "yes"), ("x-count-bin", b"\x00\x01\x02")))
        ctx.send_initial_metadata((("x-initial", "hi"),))
        return b"ok"

    def slow(req, ctx):
        # Runs until the call ends (a cancel or its deadline), at most 10 s; `req` names the call.
        rec.add("slow-start", req, ctx.time_remaining())
        deadline = time.monotonic() + 10
        while ctx.is_active() and time.monotonic() < deadline:
            time.sleep(0.02)
        rec.add("slow-end", req, ctx.is_active())
        return b"late"

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Trailers": grpc.unary_unary_rpc_method_handler(trailers),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture(scope="module")
def grpc_stack(module_hop):
    rec = Recorder()
    server, gport = make_server(rec)
    hp = module_hop.start(protocol="h2c", upstream_port=gport, tls=True)
    yield hp, rec, gport
    server.stop(0)


@pytest.fixture(params=["h2c", "tls"])
def channel(request, grpc_stack):
    hp, _, _ = grpc_stack
    if request.param == "h2c":
        ch = grpc.insecure_channel(f"127.0.0.1:{hp.port}", options=NO_PROXY)
    else:
        creds = grpc.ssl_channel_credentials(root_certificates=CA.read_bytes())
        ch = grpc.secure_channel(f"localhost:{hp.tls_port}", creds, options=NO_PROXY)
    grpc.channel_ready_future(ch).result(timeout=10)
    yield ch
    ch.close()


def method(ch, kind, name):
    path = f"/{SERVICE}/{name}"
    return getattr(ch, kind)(path, request_serializer=None, response_deserializer=None)


def test_grpc_server_answers_directly(grpc_stack):
    """Control: the grpc server itself works without hop."""
    _, _, gport = grpc_stack
    with grpc.insecure_channel(f"127.0.0.1:{gport}", options=NO_PROXY) as ch:
        assert method(ch, "unary_unary", "Unary")(b"direct", timeout=5) == b"echo:direct"


def test_unary_call_echoes_with_request_metadata(channel, grpc_stack):
    _, rec, _ = grpc_stack
    out = method(channel, "unary_unary", "Unary")(b"hello", metadata=(("x-client", "py"),), timeout=5)
    assert out == b"echo:hello"
    assert ("unary", b"hello", "py") in rec.find("unary")


def test_server_streaming_hundred_messages(channel):
    got = list(method(channel, "unary_stream", "ServerStream")(b"100", timeout=10))
    assert got == [b"msg-%d" % i for i in range(100)]


def test_client_streaming(channel):
    out = method(channel, "stream_unary", "ClientStream")(iter([b"a", b"bb", b"ccc"] * 10), timeout=10)
    assert out == b"30:" + b"|".join([b"a", b"bb", b"ccc"] * 10)


def test_bidi_streaming(channel):
    msgs = [b"m%d" % i for i in range(50)]
    got = list(method(channel, "stream_stream", "Bidi")(iter(msgs), timeout=10))
    assert got == [m.upper() for m in msgs]


def test_error_status_and_details_arrive_unchanged(channel):
    with pytest.raises(grpc.RpcError) as ei:
        method(channel, "unary_unary", "Fail")(b"widget-7", timeout=5)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND, ei.value
    assert ei.value.details() == "no such thing: widget-7", ei.value


def test_unimplemented_method_status(channel):
    with pytest.raises(grpc.RpcError) as ei:
        method(channel, "unary_unary", "NoSuchMethod")(b"x", timeout=5)
    assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED, ei.value


def test_custom_initial_and_trailing_metadata_arrive(channel):
    out, call = method(channel, "unary_unary", "Trailers").with_call(b"x", timeout=5)
    assert out == b"ok"
    initial = dict(call.initial_metadata())
    trailing = dict(call.trailing_metadata())
    assert initial.get("x-initial") == "hi", initial
    assert trailing.get("x-trailer") == "yes", trailing
    assert trailing.get("x-count-bin") == b"\x00\x01\x02", trailing
    assert call.code() == grpc.StatusCode.OK


def _wait_for(rec, kind, call_id, timeout=5.0):
    """The recorder's (kind, call_id, ...) event, waited for up to timeout; None if none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in rec.find(kind) if e[1] == call_id]
        if found:
            return found[0]
        time.sleep(0.02)
    return None


def test_deadline_exceeded_and_the_server_gets_the_deadline(channel, grpc_stack, request):
    """The client's 500 ms deadline ends the call with DEADLINE_EXCEEDED; hop passes the
    grpc-timeout on (the server's time_remaining is below 1 s) and the server's call ends."""
    _, rec, _ = grpc_stack
    call_id = request.node.name.encode()
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as ei:
        method(channel, "unary_unary", "Slow")(call_id, timeout=0.5)
    assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, ei.value
    assert time.monotonic() - t0 < 5
    start = _wait_for(rec, "slow-start", call_id)
    assert start is not None and start[2] is not None and start[2] < 1.0, start
    end = _wait_for(rec, "slow-end", call_id)
    assert end is not None, "the server's handler still runs 5 s after the client's deadline"
    assert end[2] is False


def test_a_client_cancel_reaches_the_server(channel, grpc_stack, request):
    """A call without a deadline, cancelled by the client once the server runs it: hop passes
    the RST_STREAM(CANCEL) on and the server's call ends. With no deadline (the server sees no
    grpc-timeout) nothing else could end it before the handler's own 10 s."""
    _, rec, _ = grpc_stack
    call_id = request.node.name.encode()
    future = method(channel, "unary_unary", "Slow").future(call_id)
    start = _wait_for(rec, "slow-start", call_id)
    assert start is not None, "the server never got the call"
    # grpcio reports "no deadline" as ~2^63 ns left.
    assert start[2] is None or start[2] > 1e9, f"the server saw a deadline ({start[2]} s left): this call has none"
    assert future.cancel()
    assert future.cancelled()
    end = _wait_for(rec, "slow-end", call_id)
    assert end is not None, "the server's handler still runs 5 s after the client cancelled"
    assert end[2] is False
