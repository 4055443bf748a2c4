"""Wire truth: what the packet tap saw of a probe's requests, beside what the client said.

`netem.tap` rebuilds each TCP connection the client host opened (both byte streams, when
each byte crossed the client's interface, every FIN / RST with the bytes up and down at that
moment). This module reads HTTP out of them, the same way for every client:

- HTTP/1.1: requests split at their request line and Content-Length; responses fed to an
  h11 client connection piece by piece in arrival order, so the status, the time the
  headers were complete, the body (SSE events: message_stop, `event: error`) and the end of
  the message are known with their times.
- h2c: frames on both streams (HPACK decoded with `hpack`, which h2 uses); per stream: the
  request's HEADERS, the response's HEADERS (:status), DATA, END_STREAM, RST_STREAM(code),
  and GOAWAY(code, last stream id) on the connection.
- TLS: only the TCP facts (who closed, when, bytes).

One `Exchange` per request (and one per connection refused before any request). How it
ended, from the wire: `complete` (the response's end of message arrived first), `rst` /
`fin` from the peer, `rst_stream` / `goaway`, `client_rst` / `client_fin` (the client gave
up first: its own timer), `refused`, or `open` (nothing ended it while the tap ran: silence).

`observation(ex)` turns the probe's last main request (a POST; a Claude Code conversation
request before its side requests) into an `outcome.Observation` when the wire decides it:
the peer ended it, or an HTTP error status or an SSE `error` event arrived. When the client
ended it first (a timeout) the wire has no better label than the client's: the record keeps
the client's, with the phase (headers / body) the wire saw. `attach()` puts all of it in a
record (`outcome.prefer_wire`).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict, dataclass
from typing import Any

import h11

from harness.origin.testing import parse_sse
from harness.outcome import Observation, ProbeRecord, classify, prefer_wire
from netem.tap import Flow, Stream, Tap

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")
PEER_ENDS = ("rst", "fin", "rst_stream", "goaway", "refused")
ENDS = ("complete", *PEER_ENDS, "client_rst", "client_fin", "open")
MAIN_BETA = "claude-code-20250219"  # Claude Code's conversation requests carry it (side ones do not)


@dataclass
class Exchange:
    """One request on the wire, and how it ended. Times are seconds from the probe's start."""

    conn: int  # index of the TCP connection among the probe's connections
    protocol: str  # http/1.1 | h2c | tls
    method: str | None = None
    path: str | None = None
    main: bool = True  # not a side request (Claude Code's title / HEAD requests)
    stream_id: int | None = None
    t_request: float | None = None
    request_bytes: int | None = None  # the body's declared length
    status: int | None = None
    t_headers: float | None = None
    error_type: str | None = None  # API error body's error.type (status >= 400)
    sse_error_type: str | None = None
    message_stop: bool = False
    end: str = "open"  # one of ENDS
    code: int | None = None  # RST_STREAM / GOAWAY error code
    t_end: float | None = None
    bytes_up: int = 0  # request bytes (this request's share of the stream) sent by t_end
    bytes_down: int = 0  # response bytes (this response's share) received by t_end
    rst_from: str | None = None  # host that emitted the RST (all hosts tapped)
    silence: float = 0.0  # longest stretch with nothing arriving, request to end
    retransmits: int = 0  # segments sent again on this connection (both ways)

    @property
    def headers_before_end(self) -> bool:
        return self.t_headers is not None and (self.t_end is None or self.t_headers <= self.t_end)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


# -- HTTP/1.1 --------------------------------------------------------------------------------


def _h1_requests(data: bytes) -> list[tuple[int, int, str, str, dict[bytes, bytes]]]:
    """(offset, end offset, method, target, headers) of each request in an upload stream."""
    out, pos = [], 0
    while pos < len(data) and data.startswith(METHODS, pos):
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        lines = data[pos:head_end].split(b"\r\n")
        method, target = (lines[0].split(b" ") + [b""])[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0") or 0)
        end = head_end + 4 + length
        out.append((pos, end, method.decode(), target.decode("latin-1"), headers))
        pos = end
    return out


class _Body:
    """What a response body says: SSE events, or an API error / message JSON."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.sse_error_type: str | None = None
        self.message_stop = False

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        if b"event: " not in chunk and not self.data.startswith(b"event:"):
            return
        try:
            events = parse_sse(bytes(self.data))
        except ValueError:
            return
        for name, payload in events:
            if name == "message_stop":
                self.message_stop = True
            elif name == "error" and self.sse_error_type is None:
                err = payload.get("error") if isinstance(payload, dict) else None
                self.sse_error_type = (err or {}).get("type") or "unknown"

    def json_type(self) -> tuple[str | None, str | None]:
        """(body type, error.type) of a JSON body."""
        try:
            body = json.loads(bytes(self.data))
        except ValueError:
            m = re.search(rb'"error"\s*:\s*\{\s*"type"\s*:\s*"([^"]+)"', self.data)
            return None, m.group(1).decode() if m else None
        if not isinstance(body, dict):
            return None, None
        err = body.get("error")
        return body.get("type"), err.get("type") if isinstance(err, dict) else None


def _h1_exchanges(flow: Flow, conn: int) -> list[Exchange]:
    up = flow.up.data()
    reqs = _h1_requests(up)
    if not reqs:
        return []
    out = []
    for off, end, method, target, headers in reqs:
        ex = Exchange(conn, "http/1.1", method=method, path=target,
                      t_request=flow.up.time_at(off), request_bytes=end - off - _head_len(up, off))
        ex._span = (off, end)  # type: ignore[attr-defined]
        ex._beta = MAIN_BETA.encode() in headers.get(b"anthropic-beta", b"")  # type: ignore[attr-defined]
        out.append(ex)
    if flow.down is not None:
        _h1_responses(flow.down, out)
    return out


def _head_len(data: bytes, off: int) -> int:
    return data.find(b"\r\n\r\n", off) + 4 - off


def _h1_responses(down: Stream, exchanges: list[Exchange]) -> None:
    """Feed the download to h11 in arrival order; fill status / headers time / body / end."""
    data = down.data()
    conn = h11.Connection(our_role=h11.CLIENT)
    i, body = 0, _Body()

    def begin(k: int) -> None:
        method = exchanges[k].method or "POST"
        conn.send(h11.Request(method=method, target="/", headers=[("host", "wire"), ("content-length", "0")]))
        conn.send(h11.EndOfMessage())

    begin(0)
    for t, a, b in down.arrivals:
        if a >= len(data):
            break
        conn.receive_data(data[a:b])
        while i < len(exchanges):
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return
            if event in (h11.NEED_DATA, h11.PAUSED):
                break
            ex = exchanges[i]
            if isinstance(event, h11.Response):
                ex.status, ex.t_headers = event.status_code, t
            elif isinstance(event, h11.Data):
                body.feed(bytes(event.data))
                ex.sse_error_type, ex.message_stop = body.sse_error_type, body.message_stop
            elif isinstance(event, h11.EndOfMessage):
                kind, etype = body.json_type() if not body.data.startswith(b"event:") else (None, None)
                if ex.status is not None and ex.status >= 400:
                    ex.error_type = etype
                elif kind == "message":
                    ex.message_stop = True
                ex.end, ex.t_end = "complete", t
                i, body = i + 1, _Body()
                if i < len(exchanges) and conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                    begin(i)
                else:
                    return
            elif isinstance(event, h11.ConnectionClosed):
                return
    if i < len(exchanges) and body.data and exchanges[i].status is not None and exchanges[i].status >= 400:
        exchanges[i].error_type = body.json_type()[1]


# -- h2c -------------------------------------------------------------------------------------


def _frames(data: bytes, pos: int):
    """(offset of the frame's end, type, flags, stream id, payload) of each whole frame."""
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos:pos + 3], "big")
        ftype, flags = data[pos + 3], data[pos + 4]
        sid = struct.unpack_from("!I", data, pos + 5)[0] & 0x7FFFFFFF
        end = pos + 9 + length
        if end > len(data):
            return
        yield end, ftype, flags, sid, data[pos + 9:end]
        pos = end


def _header_block(payload: bytes, flags: int) -> bytes:
    pad = payload[0] if flags & 0x08 else 0
    start = (1 if flags & 0x08 else 0) + (5 if flags & 0x20 else 0)
    return payload[start:len(payload) - pad]


def _h2_exchanges(flow: Flow, conn: int) -> list[Exchange]:
    import hpack

    up = flow.up.data()
    by_sid: dict[int, Exchange] = {}
    dec = hpack.Decoder()
    dec.max_allowed_table_size = 1 << 20
    for end, ftype, flags, sid, payload in _frames(up, len(H2_PREFACE)):
        if ftype == 1 and sid not in by_sid:  # HEADERS: a request
            try:
                hdrs = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                        for k, v in dec.decode(_header_block(payload, flags))}
            except Exception:  # noqa: BLE001 - a torn header block: no request we can name
                hdrs = {}
            ex = Exchange(conn, "h2c", method=hdrs.get(":method"), path=hdrs.get(":path"), stream_id=sid,
                          t_request=flow.up.time_at(end - 1))
            ex.main = ex.method == "POST"
            ex._beta = MAIN_BETA in hdrs.get("anthropic-beta", "")  # type: ignore[attr-defined]
            cl = hdrs.get("content-length")
            ex.request_bytes = int(cl) if cl and cl.isdigit() else None
            by_sid[sid] = ex
        elif ftype == 0 and sid in by_sid:
            by_sid[sid].bytes_up += len(payload)
    if flow.down is None:
        return list(by_sid.values())
    down = flow.down.data()
    dec = hpack.Decoder()
    dec.max_allowed_table_size = 1 << 20
    bodies: dict[int, _Body] = {}
    for end, ftype, flags, sid, payload in _frames(down, 0):
        t = flow.down.time_at(end - 1)
        if ftype == 7 and len(payload) >= 8:  # GOAWAY: every stream above last_stream_id is lost
            last_sid, code = struct.unpack_from("!II", payload)
            for s, ex in by_sid.items():
                if ex.end == "open" and (s > (last_sid & 0x7FFFFFFF) or code != 0):
                    ex.end, ex.code, ex.t_end = "goaway", code, t
            continue
        ex = by_sid.get(sid)
        if ex is None or ex.end != "open":
            continue
        if ftype == 1:
            try:
                hdrs = dict(dec.decode(_header_block(payload, flags)))
                status = hdrs.get(":status") or hdrs.get(b":status")
                ex.status = int(status) if status else None
            except Exception:  # noqa: BLE001 - HPACK state lost (a hole): no status
                pass
            ex.t_headers = t
        elif ftype == 0:
            body = bodies.setdefault(sid, _Body())
            body.feed(payload[1:len(payload) - payload[0]] if flags & 0x08 else payload)
            ex.bytes_down += len(payload)
            ex.sse_error_type, ex.message_stop = body.sse_error_type, body.message_stop
        elif ftype == 3 and len(payload) >= 4:
            ex.end, ex.code, ex.t_end = "rst_stream", struct.unpack_from("!I", payload)[0], t
        if flags & 0x01 and ftype in (0, 1) and ex.end == "open":  # END_STREAM
            body = bodies.get(sid)
            if body is not None:
                kind, etype = body.json_type()
                ex.message_stop = ex.message_stop or kind == "message"
                ex.error_type = etype if (ex.status or 0) >= 400 else None
            ex.end, ex.t_end = "complete", t
    return list(by_sid.values())


# -- all connections -------------------------------------------------------------------------


def exchanges(tap: Tap, t0: float, host: str = "client") -> list[Exchange]:
    """Every request the host made during the capture (and refused connections), in order."""
    out: list[Exchange] = []
    for n, flow in enumerate(tap.flows(host)):
        if flow.refused:
            out.append(Exchange(n, "tcp", main=True, t_request=flow.t_syn, end="refused",
                                t_end=flow.closes[0].t))
            continue
        if flow.down is None:  # the SYN went unanswered (blackhole, link down): no request left
            ex = Exchange(n, "tcp", t_request=flow.t_syn)
            _close(ex, flow, tap)
            out.append(ex)
            continue
        head = flow.up.data()[:len(H2_PREFACE)]
        if head.startswith(H2_PREFACE):
            found = _h2_exchanges(flow, n)
        elif head[:1] == b"\x16":  # TLS: one opaque exchange per connection
            found = [Exchange(n, "tls", t_request=flow.t_established)]
        else:
            found = _h1_exchanges(flow, n)
        for ex in found:
            _close(ex, flow, tap)
        out += found
    beta = any(getattr(ex, "_beta", False) for ex in out)
    for ex in out:
        if beta and ex.method == "POST":
            ex.main = getattr(ex, "_beta", False)
        elif ex.method is not None and ex.method != "POST":
            ex.main = False
        ex.__dict__.pop("_beta", None)
        for name in ("t_request", "t_headers", "t_end"):
            v = getattr(ex, name)
            if v is not None:
                setattr(ex, name, max(0.0, v - t0))
    out.sort(key=lambda ex: (ex.t_request if ex.t_request is not None else 0.0))
    return out


def _close(ex: Exchange, flow: Flow, tap: Tap) -> None:
    """How the exchange ended if the response did not (the first FIN / RST after it began),
    and the bytes each way that belong to it at that moment."""
    start = ex.t_request if ex.t_request is not None else flow.t_syn
    if ex.end == "open":
        close = flow.first_close(after=start)
        if close is not None:
            peer = close.direction == "down"
            ex.end = close.kind if peer else f"client_{close.kind}"
            ex.t_end = close.t
            if peer and close.kind == "rst":
                rst = next((s for s in tap.rsts() if s.host == flow.host and s.direction == "in"
                            and s.t == close.t), None)
                ex.rst_from = tap.emitter(rst) if rst is not None else None
    end = ex.t_end if ex.t_end is not None else max([start, *flow.arrivals, *flow.sent])
    span = ex.__dict__.pop("_span", None)
    if span is not None:  # HTTP/1.1: this request's share of the upload, this response's of the download
        ex.bytes_up = min(max(0, flow.up.bytes_at(end) - span[0]), span[1] - span[0])
        if flow.down is not None:
            ex.bytes_down = flow.down.bytes_at(end) - flow.down.bytes_at(start - 1e-9)
    elif ex.protocol != "h2c":
        ex.bytes_up = flow.up.bytes_at(end)
        ex.bytes_down = flow.down.bytes_at(end) if flow.down is not None else 0
    ex.silence = flow.longest_silence(start, end)
    ex.retransmits = flow.up.retransmits + (flow.down.retransmits if flow.down else 0)


def last_main(found: list[Exchange]) -> Exchange | None:
    mains = [ex for ex in found if ex.main]
    return mains[-1] if mains else None


def observation(ex: Exchange | None) -> Observation | None:
    """The wire's Observation of an exchange, or None when the wire cannot decide it."""
    if ex is None:
        return None
    status = ex.status if ex.headers_before_end else None
    facts = dict(status=status, message_stop=ex.message_stop, sse_error_type=ex.sse_error_type,
                 error_type=ex.error_type)
    if ex.end == "complete":
        return Observation(end="complete", **facts)
    if ex.end == "rst":
        return Observation(end="reset", **facts)
    if ex.end == "fin":
        return Observation(end="eof", **facts)
    if ex.end in ("rst_stream", "goaway"):
        return Observation(end=ex.end, h2_code=ex.code, **facts)
    if ex.end == "refused":
        return Observation(end="connect_error", errno=111)
    if (status or 0) >= 400 or ex.sse_error_type is not None:
        return Observation(end="complete", **facts)  # decided before the client gave up
    return None  # the client ended it first (its own timer), or silence: its label stands


def timeout_phase(record: ProbeRecord, ex: Exchange | None) -> Observation | None:
    """A client timeout keeps its label, but the wire knows whether headers had arrived when
    the client gave up (a client that cannot see them, e.g. Claude Code's TUI, guesses)."""
    if record.outcome != "timeout" or record.phase == "connect" or ex is None or ex.protocol == "tcp" \
            or ex.end not in ("client_fin", "client_rst", "open"):
        return None
    headers = ex.headers_before_end
    return Observation(end="timeout", status=ex.status if headers else None,
                       timeout_phase="body" if headers else "headers")


def attach(record: ProbeRecord, tap: Tap, t0: float, host: str = "client") -> ProbeRecord:
    """Put the wire's view of the probe in `record` and let it decide the outcome. The
    wire's own label (None where it does not decide) is `record.wire["label"]`."""
    found = exchanges(tap, t0, host)
    last = last_main(found)
    obs = None if tap.drops else (observation(last) or timeout_phase(record, last))
    wire = {"exchanges": [ex.to_dict() for ex in found], "connections": len(tap.flows(host)),
            "drops": tap.drops, "label": classify(obs).label if obs is not None else None}
    record.rst_from = (last.rst_from if last is not None and last.rst_from else None) or tap.who_reset(host)
    return prefer_wire(record, obs, wire)
