"""harness.wire on synthetic captures: the wire's reading of HTTP/1.1 and h2c exchanges, and
how a record keeps the client's label beside the wire's (no namespaces needed)."""

import json

import h2.connection
import h2.events
import pytest

from harness import wire
from harness.outcome import Observation, ProbeRecord, classify, prefer_wire, validate
from netem.tap import ACK, FIN, RST, SYN, Segment, Tap

C, S = ("198.18.0.2", 40000), ("198.18.1.2", 8000)


class Capture:
    """Builds the segments one TCP connection leaves on the client's interface (and, for
    RSTs, on the origin's, so attribution works)."""

    def __init__(self, port: int = 40000, t: float = 100.0):
        self.tap = Tap(None, hosts=["client", "origin"], flows=("client",))
        self.c = (C[0], port)
        self.t, self.up, self.down = t, 1000, 5000
        self._seg("out", SYN, b"", self.up - 1)
        self._seg("in", SYN | ACK, b"", self.down - 1)

    def _seg(self, direction: str, flags: int, data: bytes, seq: int, host: str = "client") -> None:
        src, dst = (self.c, S) if direction == "out" else (S, self.c)
        if host == "origin":
            direction = "out" if direction == "in" else "in"
        self.tap.segments.append(Segment(self.t, host, "veth", direction, src[0], src[1], dst[0], dst[1],
                                         seq % 2**32, flags, 0, len(data), data))

    def send(self, data: bytes, dt: float = 0.01, *, again: bool = False) -> None:
        self.t += dt
        seq = self.up - len(data) if again else self.up
        self._seg("out", ACK, data, seq)
        if not again:
            self.up += len(data)

    def recv(self, data: bytes, dt: float = 0.01) -> None:
        self.t += dt
        self._seg("in", ACK, data, self.down)
        self.down += len(data)

    def close(self, who: str, kind: str, dt: float = 0.01) -> None:
        self.t += dt
        flags = RST if kind == "rst" else FIN | ACK
        if who == "peer":
            self._seg("in", flags, b"", self.down, host="origin")  # it leaves the origin ...
            self._seg("in", flags, b"", self.down)  # ... and arrives at the client
        else:
            self._seg("out", flags, b"", self.up)


def post(body: bytes = b'{"stream":true}', extra: str = "") -> bytes:
    return (f"POST /v1/messages?beta=true HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
            ).encode() + body


def sse(name: str, data: dict) -> bytes:
    ev = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
    return b"%x\r\n" % len(ev) + ev + b"\r\n"


HEAD200 = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def decide(cap: Capture, t0: float = 100.0):
    found = wire.exchanges(cap.tap, t0)
    obs = wire.observation(wire.last_main(found))
    return found, (classify(obs).label if obs is not None else None)


def test_rst_mid_stream_after_headers_is_a_reset_named_by_its_sender():
    cap = Capture()
    cap.send(post())
    cap.recv(HEAD200)
    cap.recv(sse("message_start", {"type": "message_start"}))
    cap.close("peer", "rst", dt=0.5)
    found, label = decide(cap)
    assert label == "reset_mid_stream"
    (ex,) = found
    assert (ex.end, ex.status, ex.rst_from) == ("rst", 200, "origin")
    assert ex.bytes_up == len(post()) and ex.bytes_down == len(HEAD200) + len(sse("message_start", {"type": "message_start"}))
    assert ex.t_headers < ex.t_end and ex.silence == pytest.approx(0.5)


def test_fin_before_headers_and_rst_during_upload():
    cap = Capture()
    cap.send(post())
    cap.close("peer", "fin")
    assert decide(cap)[1] == "fin_before_headers"
    cap = Capture()
    big = post(b"x" * 100_000)
    cap.send(big[:30_000])
    cap.close("peer", "rst")
    found, label = decide(cap)
    assert label == "reset_before_headers"
    assert found[0].bytes_up == 30_000 and found[0].request_bytes == 100_000


def test_complete_stream_sse_error_and_http_error():
    cap = Capture()
    cap.send(post())
    cap.recv(HEAD200 + sse("message_start", {}) + sse("message_stop", {}) + b"0\r\n\r\n")
    assert decide(cap)[1] == "completed"
    cap = Capture()
    cap.send(post())
    cap.recv(HEAD200 + sse("error", {"type": "error", "error": {"type": "overloaded_error"}}) + b"0\r\n\r\n")
    assert decide(cap)[1] == "sse_error(overloaded_error)"
    cap = Capture()
    cap.send(post())
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"m"}}'
    cap.recv(b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    assert decide(cap)[1] == "http_error(429, rate_limit_error)"


def test_client_giving_up_first_leaves_the_label_to_the_client():
    cap = Capture()
    cap.send(post())
    cap.recv(HEAD200)
    cap.send(post()[:10], dt=0.2, again=True)  # a retransmission
    cap.close("client", "fin", dt=2.0)
    found, label = decide(cap)
    assert label is None
    assert found[0].end == "client_fin" and found[0].silence == pytest.approx(2.2)
    assert found[0].retransmits == 1
    rec = ProbeRecord(outcome="timeout", label="timeout(body)", client="raw", phase="body")
    prefer_wire(rec, None, {"exchanges": [e.to_dict() for e in found], "connections": 1, "drops": 0,
                            "label": None})
    d = rec.to_dict()
    validate(d)
    assert (d["outcome"], d["client_outcome"], d["client_label"]) == ("timeout", "timeout", "timeout(body)")


def test_a_client_timeout_gets_its_phase_from_the_wire():
    """Claude Code's TUI cannot see headers: killed at the deadline it guesses timeout(headers);
    the wire saw a 200's headers before the client closed."""
    cap = Capture()
    cap.send(post())
    cap.recv(HEAD200)
    cap.close("client", "rst", dt=3.0)
    rec = ProbeRecord.from_outcome(classify(Observation(end="timeout", timeout_phase="headers")), "claude-code")
    wire.attach(rec, cap.tap, 100.0)
    d = rec.to_dict()
    validate(d)
    assert (d["label"], d["client_label"], d["status"], d["wire"]["label"]) == \
        ("timeout(body)", "timeout(headers)", 200, "timeout(body)")


def test_the_last_main_request_decides_on_a_reused_connection():
    """HEAD / (a side request) then the POST on the same connection: the POST decides."""
    cap = Capture()
    cap.send(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n")
    cap.recv(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    cap.send(post())
    cap.recv(HEAD200)
    cap.close("peer", "fin")
    found, label = decide(cap)
    assert [(e.method, e.main) for e in found] == [("HEAD", False), ("POST", True)]
    assert found[0].end == "complete" and label == "fin_mid_stream"


def test_the_wire_overrides_a_client_that_called_an_rst_a_fin():
    cap = Capture()
    cap.send(post())
    cap.recv(HEAD200)
    cap.close("peer", "rst")
    rec = ProbeRecord.from_outcome(classify(Observation(end="eof", status=200)), "node-sdk", status=200)
    wire.attach(rec, cap.tap, 100.0)
    d = rec.to_dict()
    validate(d)
    assert (d["label"], d["client_label"], d["rst_from"]) == ("reset_mid_stream", "fin_mid_stream", "origin")


@pytest.mark.parametrize("frame, label", [("rst_stream", "h2_rst_stream(2)"), ("goaway", "h2_goaway(2)")])
def test_h2c_stream_reset_and_goaway(frame, label):
    client = h2.connection.H2Connection()
    client.initiate_connection()
    client.send_headers(1, [(":method", "POST"), (":path", "/v1/messages"), (":scheme", "http"),
                            (":authority", "x"), ("content-length", "2")])
    client.send_data(1, b"{}", end_stream=True)
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    upload = client.data_to_send()
    server.receive_data(upload)
    server.send_headers(1, [(":status", "200"), ("content-type", "text/event-stream")])
    server.send_data(1, b"event: ping\ndata: {}\n\n")
    cap = Capture()
    cap.send(upload)
    cap.recv(server.data_to_send())
    if frame == "rst_stream":
        server.reset_stream(1, 2)
    else:
        server.close_connection(2, last_stream_id=0)
    cap.recv(server.data_to_send())
    found, got = decide(cap)
    assert got == label
    assert found[0].status == 200 and found[0].stream_id == 1 and found[0].code == 2


def test_connection_refused_is_a_connect_error():
    cap = Capture()
    cap.tap.segments.pop()  # no SYN-ACK ...
    cap.close("peer", "rst")  # ... a RST answered the SYN
    assert decide(cap)[1] == "connect_error(111)"
