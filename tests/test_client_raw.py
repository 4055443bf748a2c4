"""The raw probe client against the mock origin on loopback: every outcome kind, over
HTTP/1.1, h2c and h2 over TLS; the body builder; socket options; read pacing; the h2
window; the canary; and ``python -m harness client``."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.__main__ import main as harness_main
from harness.clients.context import build_body
from harness.clients.probe import Probe
from harness.clients.raw import USER_AGENT, run
from harness.origin import OriginConfig, OriginThread
from harness.origin import api as origin_api
from harness.origin.runners import _package_root
from harness.outcome import validate
from netem.errors import ConfigError

STREAM = {"deltas": 10, "ping_interval": None}
EVENTS = 16  # message_start, block start, ping, 10 deltas, block stop, message_delta, message_stop
SECRET = "sk-ant-test-SECRET-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def origin():
    with OriginThread(OriginConfig(stream=STREAM)) as o:
        yield o


@pytest.fixture(scope="module")
def tls_origin():
    with OriginThread(OriginConfig(stream=STREAM, tls=True)) as o:
        yield o


# (protocol, tls): the three protocols, plus HTTP/1.1 over TLS
TRANSPORTS = [("http1", False), ("h2c", False), ("h2", True), ("http1", True)]
IDS = ["http1", "h2c", "h2-tls", "http1-tls"]
H2 = [("h2c", False), ("h2", True)]
WIRE = {"http1": "http/1.1", "h2c": "h2c", "h2": "h2"}


def make_probe(o, protocol="http1", **kw) -> Probe:
    kw.setdefault("size", 4000)
    kw.setdefault("timeout", 5.0)
    ca = o.info.ca_path
    return Probe(base_url=o.url, protocol=protocol, ca_path=ca, **kw)


def probe_run(o, protocol="http1", **kw):
    rec = run(make_probe(o, protocol, **kw))
    d = rec.to_dict()
    validate(d)
    json.loads(rec.to_json())
    assert d["client"] == "raw" and d["attempts"] == 1 and d["attempt"] == 1
    return d


def server(origin, tls_origin, tls):
    return tls_origin if tls else origin


def record_for(o, request_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in list(o.info.records):
            if rec["request_id"] == request_id:
                return rec
        time.sleep(0.01)
    raise AssertionError(f"no origin record for {request_id}")


def rule(when, action, **params):
    return [{"when": when, "do": {action: params}}]


# --- every outcome kind -----------------------------------------------------------------------

@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS, ids=IDS)
def test_completed(origin, tls_origin, protocol, tls):
    o = server(origin, tls_origin, tls)
    d = probe_run(o, protocol, size=20_000)
    assert d["outcome"] == "completed" and d["label"] == "completed"
    assert d["status"] == 200 and d["events_received"] == EVENTS
    assert d["protocol"] == WIRE[protocol]
    assert d["t_failure"] is None and 0 <= d["t_headers"] <= d["t_total"]
    assert d["request_bytes"] == 20_000 and d["bytes_received"] > 1000
    assert d["client_message"] is None and d["client_version"]
    rec = record_for(o, d["request_id"])
    assert rec["path"] == "/v1/messages?beta=true" and rec["body_bytes"] == 20_000
    assert rec["protocol"] == WIRE[protocol]
    h = rec["headers"]
    assert h["anthropic-version"] == "2023-06-01" and h["content-type"] == "application/json"
    assert h["x-stainless-retry-count"] == "0" and h["user-agent"] == USER_AGENT
    assert h["x-api-key"] == "[redacted]"  # it was sent (the origin redacts its log)


def test_non_streaming_completed(origin):
    d = probe_run(origin, stream=False)
    assert d["outcome"] == "completed" and d["events_received"] == 0 and d["bytes_received"] > 100
    assert record_for(origin, d["request_id"])["served"] == "message"


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS, ids=IDS)
def test_reset_before_headers(origin, tls_origin, protocol, tls):
    d = probe_run(server(origin, tls_origin, tls), protocol, size=100_000,
                  lab_plan=rule({"phase": "before_response_headers"}, "tcp_rst"))
    assert d["outcome"] == "reset_before_headers", d
    assert d["status"] is None and d["t_headers"] is None and d["request_id"] is None
    assert "[Errno 104]" in d["client_message"] and d["client_message"].startswith("ConnectionResetError")
    assert d["t_failure"] is not None


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS, ids=IDS)
def test_reset_during_a_large_upload(origin, tls_origin, protocol, tls):
    # The RST hits while we are still sending: whichever of send/recv sees it, it is a reset.
    d = probe_run(server(origin, tls_origin, tls), protocol, size=3_000_000,
                  lab_plan=rule({"phase": "request_body", "body_bytes_over": 200_000}, "tcp_rst"))
    assert d["outcome"] == "reset_before_headers", d["client_message"]
    assert d["request_bytes"] == 3_000_000 and d["status"] is None
    assert d["client_message"].split(":")[0] in ("ConnectionResetError", "BrokenPipeError")


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS[:3], ids=IDS[:3])
def test_fin_before_headers(origin, tls_origin, protocol, tls):
    d = probe_run(server(origin, tls_origin, tls), protocol,
                  lab_plan=rule({"phase": "before_response_headers"}, "fin"))
    assert d["outcome"] == "fin_before_headers" and d["status"] is None
    assert "before" in d["client_message"]


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS, ids=IDS)
def test_reset_mid_stream_is_a_reset_even_under_tls(origin, tls_origin, protocol, tls):
    o = server(origin, tls_origin, tls)
    d = probe_run(o, protocol, lab_plan=rule({"after_events": 3}, "tcp_rst"))
    assert d["outcome"] == "reset_mid_stream", d  # under TLS too: not a ragged EOF
    assert d["status"] == 200 and d["events_received"] == 3
    assert d["client_message"] == "ConnectionResetError: [Errno 104] Connection reset by peer"
    assert d["request_id"].startswith("req_") and record_for(o, d["request_id"])["injected"] == "tcp_rst"
    assert d["t_failure"] >= d["t_headers"]


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS, ids=IDS)
def test_fin_mid_stream(origin, tls_origin, protocol, tls):
    d = probe_run(server(origin, tls_origin, tls), protocol,
                  lab_plan=rule({"after_events": 4}, "fin"))
    assert d["outcome"] == "fin_mid_stream", d
    assert d["status"] == 200 and d["events_received"] == 4 and "EOF" in d["client_message"]


@pytest.mark.parametrize(("protocol", "tls", "code"), [("h2c", False, 2), ("h2", True, 8)],
                         ids=["h2c", "h2-tls"])
def test_h2_rst_stream(origin, tls_origin, protocol, tls, code):
    d = probe_run(server(origin, tls_origin, tls), protocol,
                  lab_plan=rule({"after_events": 3}, "h2_rst_stream", code=code))
    assert d["outcome"] == "h2_rst_stream" and d["code"] == code
    assert d["label"] == f"h2_rst_stream({code})" and d["client_message"] == f"RST_STREAM code {code}"
    assert d["events_received"] == 3 and d["status"] == 200


@pytest.mark.parametrize(("protocol", "tls", "code"), [("h2c", False, 0), ("h2", True, 2)],
                         ids=["h2c", "h2-tls"])
def test_h2_goaway(origin, tls_origin, protocol, tls, code):
    d = probe_run(server(origin, tls_origin, tls), protocol,
                  lab_plan=rule({"after_events": 3}, "h2_goaway", code=code))
    assert d["outcome"] == "h2_goaway" and d["code"] == code and d["label"] == f"h2_goaway({code})"
    assert d["client_message"].startswith(f"GOAWAY code {code}")


@pytest.fixture(scope="module")
def goaway_origin():
    """Writes a raw GOAWAY(NO_ERROR, last_stream_id from x-test-last) before each response;
    the server's own h2 state does not know, so the stream goes on (a graceful drain)."""
    from hyperframe.frame import GoAwayFrame

    async def handler(ex, state):
        last = ex.header("x-test-last")
        if ex.method == "POST" and last is not None:
            frame = GoAwayFrame(0)
            frame.last_stream_id = int(last)
            frame.error_code = 0
            ex.c.t.queue(frame.serialize())
        await origin_api.handle(ex, state)

    with OriginThread(OriginConfig(stream=STREAM), handler=handler) as o:
        yield o


@pytest.mark.parametrize(("last", "label"), [(1, "completed"), (0, "h2_goaway(0)")])
def test_graceful_goaway_covering_our_stream_lets_it_finish(goaway_origin, last, label):
    d = probe_run(goaway_origin, "h2c", headers={"x-test-last": last})
    assert d["label"] == label, d["client_message"]
    assert d["events_received"] == (EVENTS if last else 0)


def test_goaway_splitter_cuts_right_after_each_goaway():
    from hyperframe.frame import DataFrame, GoAwayFrame, SettingsFrame

    from harness.clients.raw import GoawaySplitter

    goaway = GoAwayFrame(0)
    goaway.last_stream_id = 1
    head = SettingsFrame(0).serialize() + DataFrame(1, data=b"x" * 20).serialize() + goaway.serialize()
    stream = head + DataFrame(1, data=b"y" * 5).serialize() + goaway.serialize()
    for step in (1, 2, 9, 10, 1000):
        splitter, ends, pos = GoawaySplitter(), [], 0
        for k in range(0, len(stream), step):
            for piece in splitter.split(stream[k:k + step]):
                pos += len(piece)
                ends.append(pos)
        assert pos == len(stream) and len(head) in ends and ends[-1] == len(stream)


def test_h2_faults_do_not_apply_to_http1(origin):
    d = probe_run(origin, "http1", lab_plan=rule({"after_events": 3}, "h2_rst_stream"))
    assert d["outcome"] == "completed"


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS, ids=IDS)
def test_http_error_529_with_request_id(origin, tls_origin, protocol, tls):
    o = server(origin, tls_origin, tls)
    d = probe_run(o, protocol, lab_plan=rule({"phase": "before_response_headers"}, "http_status",
                                             status=529, type="overloaded_error",
                                             headers={"cf-ray": "8f00aa11bb22cc33-SJC"}))
    assert d["outcome"] == "http_error" and d["label"] == "http_error(529, overloaded_error)"
    assert d["status"] == 529 and d["error_type"] == "overloaded_error"
    assert d["request_id"].startswith("req_") and record_for(o, d["request_id"])["status"] == 529
    assert d["cf_ray"] == "8f00aa11bb22cc33-SJC"


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS[:3], ids=IDS[:3])
def test_sse_error(origin, tls_origin, protocol, tls):
    d = probe_run(server(origin, tls_origin, tls), protocol,
                  lab_plan=rule({"after_events": 3}, "sse_error", type="overloaded_error"))
    assert d["label"] == "sse_error(overloaded_error)" and d["status"] == 200
    assert d["events_received"] == 4  # three scripted events and the error event
    assert d["t_failure"] is not None and "overloaded_error" in d["client_message"]


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS[:3], ids=IDS[:3])
def test_timeout_headers(origin, tls_origin, protocol, tls):
    d = probe_run(server(origin, tls_origin, tls), protocol, timeout=0.5,
                  lab_plan=rule({"phase": "before_response_headers"}, "stall", forever=True))
    assert d["label"] == "timeout(headers)" and d["phase"] == "headers" and d["status"] is None
    assert 0.45 <= d["t_failure"] < 2.0


@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS[:3], ids=IDS[:3])
def test_timeout_body_is_an_idle_timeout(origin, tls_origin, protocol, tls):
    # Events every 0.15 s for ~0.6 s (longer than the idle limit in total), then a stall.
    d = probe_run(server(origin, tls_origin, tls), protocol, timeout=5,
                  idle_timeout=0.4,
                  lab_stream={"deltas": 10, "gap": 0.15, "ping_interval": None},
                  lab_plan=rule({"after_events": 5}, "stall", forever=True))
    assert d["label"] == "timeout(body)" and d["status"] == 200 and d["events_received"] == 5
    assert d["t_failure"] - d["t_headers"] >= 0.4 + 0.15 * 3
    assert d["t_failure"] < 3


def test_timeout_connect_when_syns_are_dropped():
    # listen(0) with the accept queue full: the kernel drops further SYNs.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
        time.sleep(0.05)
        d = run(Probe(base_url=f"http://127.0.0.1:{port}", timeout=0.4)).to_dict()
        validate(d)
        assert d["label"] == "timeout(connect)" and d["protocol"] is None
    finally:
        for s in fillers:
            s.close()
        lsock.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connect_error_econnrefused():
    d = run(Probe(base_url=f"http://127.0.0.1:{closed_port()}", protocol="h2c")).to_dict()
    validate(d)
    assert d["outcome"] == "connect_error" and d["code"] == errno.ECONNREFUSED == 111
    assert d["label"] == "connect_error(111)" and "Connection refused" in d["client_message"]
    assert d["t_headers"] is None and d["bytes_received"] == 0


def test_untrusted_certificate_is_a_connect_error(tls_origin):
    d = run(Probe(base_url=tls_origin.url, protocol="h2")).to_dict()  # no CA given
    validate(d)
    assert d["outcome"] == "connect_error" and "CERTIFICATE_VERIFY_FAILED" in d["client_message"]


class RawServer:
    """A one-shot HTTP/1.1 server that answers with fixed bytes after reading the request."""

    def __init__(self, response: bytes, close: str = "fin"):
        self.response, self.close = response, close
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(65536)
            head, body = buf.split(b"\r\n\r\n", 1)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(self.response)
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)

    def stop(self):
        self.thread.join(5)
        self.sock.close()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_truncated_clean_chunked_end_without_message_stop():
    events = (b'event: message_start\ndata: {"type":"message_start","message":{}}\n\n'
              b'event: ping\ndata: {"type":"ping"}\n\n')
    srv = RawServer(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\nrequest-id: req_truncated\r\n\r\n"
                    + chunk(events) + b"0\r\n\r\n")
    try:
        d = run(Probe(base_url=srv.url, size=3000, timeout=5)).to_dict()
    finally:
        srv.stop()
    validate(d)
    assert d["outcome"] == "truncated_clean" and d["events_received"] == 2
    assert d["request_id"] == "req_truncated" and d["t_failure"] is not None


# --- the body -----------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1024, 3000, 10_000, 100_000, 1 << 20, 3_333_333, 10 << 20])
def test_body_size_and_shape(size):
    body = build_body(size)
    assert abs(len(body) - size) <= max(200, size // 100)
    doc = json.loads(body)
    assert doc["stream"] is True and doc["model"] and doc["max_tokens"] == 1024
    assert doc["system"][0]["type"] == "text"
    msgs = doc["messages"]
    roles = [m["role"] for m in msgs]
    assert roles[0] == "user" and roles[-1] == "user"
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False))  # alternating
    if size >= 100_000:
        assert len(msgs) >= 5
        uses = [c["id"] for m in msgs for c in m["content"] if c["type"] == "tool_use"]
        results = [c["tool_use_id"] for m in msgs for c in m["content"] if c["type"] == "tool_result"]
        assert uses and uses == results and {t["name"] for t in doc["tools"]} >= {"Read"}
        for i, m in enumerate(msgs):  # every tool_use is answered in the next user turn
            for c in m["content"]:
                if c["type"] == "tool_use":
                    nxt = msgs[i + 1]["content"]
                    assert any(x.get("tool_use_id") == c["id"] for x in nxt)
    assert build_body(size) == body  # deterministic
    assert build_body(size, seed=1) != body


def test_body_options_and_small_sizes():
    doc = json.loads(build_body(5000, stream=False, model="claude-x", max_tokens=7))
    assert "stream" not in doc and doc["model"] == "claude-x" and doc["max_tokens"] == 7
    tiny = build_body(10)
    assert len(tiny) < 400 and json.loads(tiny)["messages"][0]["role"] == "user"


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1024, max_value=300_000), st.integers(min_value=0, max_value=5))
def test_body_size_property(size, seed):
    body = build_body(size, seed=seed)
    assert abs(len(body) - size) <= max(200, size // 100)
    json.loads(body)


# --- socket options, pacing, h2 window ---------------------------------------------------------

def test_keepalive_socket_options(origin):
    d = probe_run(origin, keepalive=9)
    so = d["probe"]["sockopts"]  # read back with getsockopt after connect
    assert so["keepalive"] is True and so["keepidle"] == 9 and so["keepintvl"] == 3
    assert so["keepcnt"] == 3 and so["nodelay"] is True
    d = probe_run(origin, "h2c", keepalive=2)
    assert d["probe"]["sockopts"]["keepidle"] == 2 and d["probe"]["sockopts"]["keepintvl"] == 1
    d = probe_run(origin)
    assert d["probe"]["sockopts"]["keepalive"] is False


BIG = {"deltas": 30, "tokens_per_delta": 1000, "ping_interval": None}  # ~200 KB of SSE


def test_read_pace_slows_the_transfer(origin):
    fast = probe_run(origin, lab_stream=BIG)
    assert fast["outcome"] == "completed" and fast["bytes_received"] >= 190_000
    assert fast["t_total"] < 2.0
    slow = probe_run(origin, lab_stream=BIG, read_pace=50_000, timeout=20)
    assert slow["outcome"] == "completed" and slow["bytes_received"] == fast["bytes_received"]
    assert slow["t_total"] >= 3.0  # ~200 KB at 50 KB/s
    assert slow["t_total"] < 10
    assert slow["probe"]["sockopts"]["rcvbuf"] <= 2 * 16 * 1024  # shrunk (Linux doubles it)


def test_h2_pacing_returns_credit_only_for_what_was_read(origin):
    stream = {"deltas": 15, "tokens_per_delta": 1000, "ping_interval": None}  # ~100 KB
    d = probe_run(origin, "h2c", lab_stream=stream, read_pace=50_000, h2_window=16384, timeout=20)
    assert d["outcome"] == "completed" and d["bytes_received"] >= 90_000
    assert d["t_total"] >= 1.5
    rec = record_for(origin, d["request_id"])
    # The origin was held back by flow control: it could not finish much before we did.
    sending = rec["timings"]["finished"] - rec["timings"]["headers_sent"]
    assert sending >= 1.0, rec["timings"]


def test_read_pause_stops_reading_without_counting_as_idle(origin):
    d = probe_run(origin, read_pauses=((0.1, 1.2),), idle_timeout=0.6,
                  lab_stream={"deltas": 10, "gap": 0.03, "ping_interval": None})
    assert d["outcome"] == "completed" and d["events_received"] == EVENTS
    assert d["t_total"] >= 1.2


@pytest.fixture(scope="module")
def spy_origin():
    """An origin that remembers what each request looked like at the server."""
    seen: list[dict] = []

    async def handler(ex, state):
        entry = {"method": ex.method, "protocol": ex.protocol, "headers": dict(ex.headers)}
        if ex.protocol in ("h2", "h2c"):
            h = ex.c.h
            entry["initial_window"] = h.remote_settings.initial_window_size
            entry["conn_window"] = h.outbound_flow_control_window
        seen.append(entry)
        await origin_api.handle(ex, state)

    with OriginThread(OriginConfig(stream=STREAM), handler=handler) as o:
        o.seen = seen
        yield o


@pytest.mark.parametrize(("window", "conn_window"), [(16384, 65535), (1_000_000, 1_000_000),
                                                     (None, 65535)])
def test_h2_window_is_what_the_server_sees(spy_origin, window, conn_window):
    before = len(spy_origin.seen)
    d = probe_run(spy_origin, "h2c", h2_window=window)
    assert d["outcome"] == "completed"
    entry = spy_origin.seen[before]
    assert entry["initial_window"] == (window or 65535)
    assert entry["conn_window"] == conn_window


def test_api_key_from_env_is_sent_and_never_recorded(spy_origin, monkeypatch):
    monkeypatch.setenv("RESETLAB_TEST_KEY", SECRET)
    before = len(spy_origin.seen)
    rec = run(make_probe(spy_origin, api_key_env="RESETLAB_TEST_KEY"))
    assert spy_origin.seen[before]["headers"]["x-api-key"] == SECRET
    assert SECRET not in rec.to_json() and rec.probe["api_key"] == "env"
    monkeypatch.delenv("RESETLAB_TEST_KEY")
    before = len(spy_origin.seen)
    rec = run(make_probe(spy_origin, api_key_env="RESETLAB_TEST_KEY"))
    assert spy_origin.seen[before]["headers"]["x-api-key"] == "lab-key"
    assert rec.probe["api_key"] == "dummy"


def test_lab_headers_only_when_set(spy_origin):
    before = len(spy_origin.seen)
    probe_run(spy_origin)
    probe_run(spy_origin, lab_stream={"deltas": 2}, lab_plan=[])
    first, second = spy_origin.seen[before:before + 2]
    assert "x-resetlab-stream" not in first["headers"] and "x-resetlab-plan" not in first["headers"]
    assert json.loads(second["headers"]["x-resetlab-stream"]) == {"deltas": 2}
    assert json.loads(second["headers"]["x-resetlab-plan"]) == []


def test_protocol_and_scheme_must_agree(origin):
    with pytest.raises(ConfigError):
        run(Probe(base_url=origin.url, protocol="h2"))
    with pytest.raises(ConfigError):
        run(Probe(base_url="https://127.0.0.1:1", protocol="h2c"))


# --- canary -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("protocol", "tls"), TRANSPORTS[:3], ids=IDS[:3])
def test_canary_alive_when_nothing_happens(origin, tls_origin, protocol, tls):
    d = probe_run(server(origin, tls_origin, tls), protocol, canary=True)
    assert d["outcome"] == "completed"
    c = d["probe"]["canary"]
    assert c["alive"] is True and c["end"] == "open" and c["t"] is None
    assert c["heads"] == 2 and c["protocol"] == WIRE[protocol]


def test_canary_survives_a_reset_of_the_probe_connection(origin):
    d = probe_run(origin, canary=True, lab_plan=rule({"after_events": 3}, "tcp_rst"))
    assert d["outcome"] == "reset_mid_stream" and d["probe"]["canary"]["alive"] is True


@pytest.fixture(scope="module")
def idle_closing_origin():
    # Idle keep-alive connections are closed after 0.3 s: GOAWAY(NO_ERROR) on h2, FIN on h1.
    with OriginThread(OriginConfig(stream=STREAM, keepalive_idle_timeout=0.3)) as o:
        yield o


@pytest.mark.parametrize(("protocol", "end"), [("h2c", "goaway"), ("http1", "eof")])
def test_canary_dead_when_the_origin_closes_it(idle_closing_origin, protocol, end):
    d = probe_run(idle_closing_origin, protocol, canary=True,
                  lab_stream={"deltas": 10, "gap": 0.1, "ping_interval": None})
    assert d["outcome"] == "completed"  # the busy probe connection is not idle
    c = d["probe"]["canary"]
    assert c["alive"] is False and c["end"] == end
    assert 0 < c["t"] < d["t_total"]
    if end == "goaway":
        assert c["code"] == 0


@pytest.fixture(scope="module")
def rst_all_origin():
    """When a POST arrives, every connection that sent HEAD / is reset (a path-wide event)."""
    heads = []

    async def handler(ex, state):
        if ex.method == "HEAD":
            heads.append(ex)
        elif ex.method == "POST":
            while heads:
                heads.pop().tcp_rst()
        await origin_api.handle(ex, state)

    with OriginThread(OriginConfig(stream=STREAM), handler=handler) as o:
        yield o


@pytest.mark.parametrize("protocol", ["http1", "h2c"])
def test_canary_dead_when_its_connection_is_reset(rst_all_origin, protocol):
    d = probe_run(rst_all_origin, protocol, canary=True,
                  lab_stream={"deltas": 5, "gap": 0.05, "ping_interval": None})
    assert d["outcome"] == "completed"
    c = d["probe"]["canary"]
    assert c["alive"] is False and c["end"] == "reset" and c["errno"] == errno.ECONNRESET
    assert 0 <= c["t"] < d["t_total"]


def test_canary_that_cannot_connect_is_reported():
    port = closed_port()
    d = run(Probe(base_url=f"http://127.0.0.1:{port}", canary=True)).to_dict()
    validate(d)
    assert d["probe"]["canary"]["alive"] is False
    assert d["probe"]["canary"]["end"] == "connect_error"


# --- CLI ----------------------------------------------------------------------------------------

def cli(*argv) -> int:
    try:
        return harness_main(["client", *argv])
    except SystemExit as exc:
        return int(exc.code)


def test_cli_prints_one_valid_json_line_and_hides_the_key(origin, capsys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)  # read because --api-key-env names it
    rc = cli("raw", "--base-url", origin.url, "--api-key-env", "ANTHROPIC_API_KEY", "--size", "3K",
             "--protocol", "h2c", "--keepalive", "5",
             "--lab-stream", '{"deltas": 3, "ping_interval": null}', "--canary",
             "--extra", '{"idle_timeout": 3}', "--read-pause", "0.01:0.01")
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 1
    d = json.loads(lines[0])
    validate(d)
    assert d["outcome"] == "completed" and d["protocol"] == "h2c" and d["request_bytes"] == 3072
    assert d["probe"]["api_key"] == "env" and d["probe"]["keepalive"] == 5
    assert d["probe"]["canary"]["alive"] is True and d["probe"]["read_pauses"] == [[0.01, 0.01]]
    assert SECRET not in out + err


def test_cli_failure_outcome_still_exits_0(capsys):
    rc = cli("raw", "--base-url", f"http://127.0.0.1:{closed_port()}")
    out, err = capsys.readouterr()
    assert rc == 0 and err == "" and json.loads(out)["label"] == "connect_error(111)"


@pytest.mark.parametrize(("argv", "needle"), [
    (["nosuch", "--base-url", "http://x"], "NAME: got 'nosuch'"),
    (["raw"], "--base-url"),
    (["raw", "--base-url", "ftp://x"], "--base-url: got 'ftp://x'"),
    (["raw", "--base-url", "http://x", "--size", "-5"], "--size: got -5"),
    (["raw", "--base-url", "http://x", "--size", "big"], "--size: got 'big'"),
    (["raw", "--base-url", "http://x", "--protocol", "h3"], "--protocol: got 'h3'"),
    (["raw", "--base-url", "http://x", "--protocol", "h2"], "--protocol: got 'h2'"),
    (["raw", "--base-url", "http://x", "--timeout", "0"], "--timeout: got 0"),
    (["raw", "--base-url", "http://x", "--keepalive", "0.5"], "--keepalive: got 0.5"),
    (["raw", "--base-url", "http://x", "--lab-plan", "[{"], "--lab-plan: got '[{'"),
    (["raw", "--base-url", "http://x", "--lab-stream", "[]"], "--lab-stream: got []"),
    (["raw", "--base-url", "http://x", "--extra", "/no/such/file"], "--extra: got '/no/such/file'"),
    (["raw", "--base-url", "http://x", "--read-pause", "3"], "--read-pause: got '3'"),
    (["raw", "--base-url", "http://x", "--frobnicate"], "arguments: got '--frobnicate'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    rc = cli(*argv)
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("resetlab client: error: "), err
    assert needle in err and "; allowed " in err, err


def test_cli_as_a_process(origin):
    env = dict(os.environ, PYTHONPATH=_package_root(), ANTHROPIC_API_KEY=SECRET)
    proc = subprocess.run([sys.executable, "-m", "harness", "client", "raw", "--base-url", origin.url,
                           "--lab-plan", '[{"when": {"after_events": 2}, "do": {"tcp_rst": {}}}]'],
                          capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(proc.stdout.splitlines()) == 1 and SECRET not in proc.stdout
    d = json.loads(proc.stdout)
    validate(d)
    assert d["label"] == "reset_mid_stream" and d["events_received"] == 2
    bad = subprocess.run([sys.executable, "-m", "harness", "client", "raw", "--base-url", origin.url,
                          "--size", "x"], capture_output=True, text=True, timeout=30, env=env)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.splitlines()) == 1


def test_think_time_reuses_one_connection_after_idling():
    """probe.think_time: HEAD / first, idle, then the probe on the same connection."""
    from harness.clients.probe import Probe
    from harness.clients.raw import run
    from harness.origin import OriginConfig, OriginThread

    with OriginThread(OriginConfig(keepalive_idle_timeout=0.3)) as o:
        ok = run(Probe(base_url=o.url, think_time=0.05))
        closed = run(Probe(base_url=o.url, think_time=0.8))
        conns = [(r["method"], r["conn"]) for r in o.info.records]
    assert ok.outcome == "completed"
    assert closed.outcome in ("fin_before_headers", "reset_before_headers"), closed.label
    assert conns[0][0] == "HEAD" and conns[1] == ("POST", conns[0][1])  # same connection reused


def test_each_seed_sends_its_own_body(origin):
    """Probe.seed reaches the body: repeats (seed = repeat number) send different bodies of
    the same size, the same seed the same body (the origin's log keeps a digest of each)."""
    tags = {}
    for seed in (0, 1, 2, 0):
        tag = f"seed-{seed}-{len(tags)}"
        probe_run(origin, size=20_000, seed=seed, headers={"x-test-seed": tag})
        rec = next(r for r in list(origin.info.records) if r["headers"].get("x-test-seed") == tag)
        assert rec["body_bytes"] == 20_000
        tags[tag] = (seed, rec["body_sha256"])
    digests = {}
    for seed, digest in tags.values():
        digests.setdefault(seed, set()).add(digest)
    assert all(len(d) == 1 for d in digests.values()), digests  # one body per seed
    assert len({next(iter(d)) for d in digests.values()}) == 3, digests  # and each seed its own


def test_overall_deadline_ends_a_probe_that_nothing_else_would_end():
    """A peer that accepts and never answers, with headers and body deadlines of a minute: the
    probe's overall deadline (0.5 s) still ends it, as a timeout that says so."""
    import socket as socket_
    import time as time_

    from harness.clients.probe import Probe
    from harness.clients.raw import run

    srv = socket_.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)  # connections complete in the backlog; nobody ever reads or answers
    try:
        t0 = time_.monotonic()
        rec = run(Probe(base_url=f"http://127.0.0.1:{srv.getsockname()[1]}", timeout=60, idle_timeout=60,
                        deadline=0.5))
        elapsed = time_.monotonic() - t0
    finally:
        srv.close()
    assert rec.outcome == "timeout" and "overall deadline" in rec.client_message
    assert elapsed < 10, elapsed


def _sink(read_every: float | None):
    """A TCP server that takes a request and never answers: with read_every None it stops
    reading at once (the upload stalls when the buffers fill), else it reads 64 KB every
    `read_every` seconds (the upload crawls but moves)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)
    stop = threading.Event()

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        while not stop.wait(read_every if read_every is not None else 0.1):
            if read_every is not None:
                try:
                    conn.recv(65536)
                except OSError:
                    break
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, stop


@pytest.mark.parametrize("read_every, phase", [(None, "upload"), (0.05, "headers")])
def test_an_upload_without_progress_ends_the_probe(read_every, phase):
    """upload_idle: bytes still queued and none acknowledged for that long end the probe as a
    timeout in phase "upload" -- a dead flow -- while an upload that crawls on waits for its
    headers deadline (the server is slow, not gone)."""
    srv, stop = _sink(read_every)
    try:
        rec = run(Probe(base_url=f"http://127.0.0.1:{srv.getsockname()[1]}", size=32_000_000, timeout=4.0,
                        upload_idle=1.0))
    finally:
        stop.set()
        srv.close()
    assert rec.outcome == "timeout" and rec.phase == phase, (rec.outcome, rec.phase, rec.client_message)
    if phase == "upload":
        # 1 s without progress, looked at every 0.25 s; generous for a loaded machine, and
        # far from the 4 s headers deadline it would otherwise have waited for
        assert rec.t_total < 3.5, rec.t_total
        assert "no progress" in rec.client_message


def test_a_warm_up_without_an_answer_ends_at_its_deadline_not_the_overall_one():
    """A think-time probe whose warm-up HEAD gets no answer (lost in an outage) ends when its
    headers deadline passes. It used to return with the writer task still running, and its
    nursery waited for that task until the overall deadline (129 s in h3's think-time probes)."""
    srv = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()  # never answers
    try:
        t = time.monotonic()
        rec = run(Probe(base_url=f"http://127.0.0.1:{srv.getsockname()[1]}", size=1000, timeout=1.0,
                        think_time=1.0, deadline=30.0))
        took = time.monotonic() - t
    finally:
        srv.close()
    assert rec.outcome == "timeout" and "warm-up request got no answer" in rec.client_message, (
        rec.outcome, rec.client_message)
    assert took < 10.0, took  # the 1 s deadline, not the 30 s overall one


def test_the_overall_deadline_says_where_the_probe_was():
    """Whatever hangs past every other timer is reported with the stage it hung in."""
    srv = socket.create_server(("127.0.0.1", 0))
    held = []

    def serve():
        c, _ = srv.accept()
        held.append(c)
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:  # the think time (5 s) outlasts the overall deadline (2 s)
        rec = run(Probe(base_url=f"http://127.0.0.1:{srv.getsockname()[1]}", size=1000, timeout=1.0,
                        think_time=5.0, deadline=2.0))
    finally:
        srv.close()
    assert rec.outcome == "timeout" and "stuck in: think" in rec.client_message, rec.client_message
