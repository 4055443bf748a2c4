"""Reading an HTTP response without a socket: h11 / h2 events in, what they show out.

Every reader of responses in the lab -- the raw probe client, its canary, the origin's
test clients (harness/origin/testing.py) and the edge's tests -- feeds the events its
protocol library produced to `seen_h1` / `seen_h2`, which say in one vocabulary what
happened to the response (`Seen`): headers (status, other headers), data, or its end
(complete | eof | rst_stream | goaway, with the HTTP/2 code). Each reader keeps its own
state (deadlines, SSE parsing, retries); none tells events apart by itself.

`Response` is the plain state of one response built from those (what the test clients
return); `Response.observation()` hands it to the one outcome classifier
(harness/outcome.py `classify`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import h2.events
import h11

from harness.outcome import Observation


@dataclass(frozen=True)
class Seen:
    kind: str  # headers | data | end
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()  # lower-case names; no pseudo-headers
    data: bytes = b""
    flow: int = 0  # HTTP/2 flow-controlled length of the data (to credit back)
    end: str | None = None  # complete | eof | rst_stream | goaway
    code: int | None = None  # RST_STREAM / GOAWAY error code
    last_stream_id: int | None = None  # GOAWAY's


def error_code(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def h2_status(headers) -> tuple[int, tuple[tuple[str, str], ...]]:
    """An HTTP/2 header block's status (given as the :status pseudo-header, not a field of
    the event) and the other headers."""
    pairs = [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
             for k, v in headers]
    status = next((int(v) for k, v in pairs if k == ":status"), 0)
    return status, tuple((k.lower(), v) for k, v in pairs if not k.startswith(":"))


def seen_h1(event) -> Seen | None:
    """What an h11 event shows of the response (None: nothing, e.g. 100 Continue)."""
    if isinstance(event, h11.Response):
        return Seen("headers", status=event.status_code,
                    headers=tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers))
    if isinstance(event, h11.Data):
        return Seen("data", data=bytes(event.data))
    if isinstance(event, h11.EndOfMessage):
        return Seen("end", end="complete")
    if isinstance(event, h11.ConnectionClosed):
        return Seen("end", end="eof")
    return None


def seen_h2(event, sid: int) -> Seen | None:
    """What an h2 event shows of stream `sid`'s response (a GOAWAY ends every stream)."""
    if isinstance(event, h2.events.ConnectionTerminated):
        return Seen("end", end="goaway", code=error_code(event.error_code), last_stream_id=event.last_stream_id)
    if getattr(event, "stream_id", None) != sid:
        return None
    if isinstance(event, h2.events.ResponseReceived):
        status, headers = h2_status(event.headers)
        return Seen("headers", status=status, headers=headers)
    if isinstance(event, h2.events.DataReceived):
        return Seen("data", data=event.data, flow=event.flow_controlled_length)
    if isinstance(event, h2.events.StreamEnded):
        return Seen("end", end="complete")
    if isinstance(event, h2.events.StreamReset):
        return Seen("end", end="rst_stream", code=error_code(event.error_code))
    return None


@dataclass
class Response:
    """One response as a client saw it. `end`: complete | eof | reset | timeout |
    rst_stream | goaway ("" while it goes on); the caller sets reset / timeout, which only
    the socket knows."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    end: str = ""
    errno: int | None = None
    error_code: int | None = None
    last_stream_id: int | None = None
    alpn: str | None = None
    t_headers: float | None = None  # seconds after the request was sent
    t_end: float | None = None
    chunks: list[tuple[float, bytes]] = field(default_factory=list)  # body arrivals

    def apply(self, seen: Seen | None, t: float) -> None:
        """Take what one event showed, at `t` seconds after the request was sent."""
        if seen is None or self.end:
            return
        if seen.kind == "headers":
            self.status, self.headers, self.t_headers = seen.status, dict(seen.headers), t
        elif seen.kind == "data":
            self.chunks.append((t, seen.data))
            self.body += seen.data
        else:
            self.end, self.error_code, self.last_stream_id = seen.end, seen.code, seen.last_stream_id

    def events(self) -> list[tuple[str, dict]]:
        return parse_sse(self.body)

    def event_times(self) -> list[tuple[float, str]]:
        """(arrival time, event name) for each complete SSE event."""
        out, buf = [], b""
        for t, chunk in self.chunks:
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                name = next((ln[7:].decode() for ln in block.split(b"\n")
                             if ln.startswith(b"event: ")), "")
                out.append((t, name))
        return out

    def json(self) -> dict:
        return json.loads(self.body)

    def observation(self) -> Observation:
        """The facts for harness.outcome.classify."""
        error_type = sse_error = None
        message_stop = False
        if self.status is not None and self.status >= 400:
            try:
                error_type = (self.json().get("error") or {}).get("type")
            except (ValueError, AttributeError):
                pass
        elif self.headers.get("content-type", "").startswith("text/event-stream"):
            names = [name for name, _ in _sse_blocks(self.body)]
            message_stop = "message_stop" in names
            if "error" in names:
                sse_error = next((d.get("error", {}).get("type") for n, d in self.events() if n == "error"), None) \
                    or "unknown"
        else:
            try:
                message_stop = self.json().get("type") == "message"
            except (ValueError, AttributeError):
                pass
        end = self.end or "eof"
        return Observation(end=end, status=self.status, message_stop=message_stop, sse_error_type=sse_error,
                           error_type=error_type, h2_code=self.error_code, errno=self.errno,
                           timeout_phase=None if end != "timeout" else ("body" if self.status else "headers"))


def _sse_blocks(data: bytes) -> list[tuple[str, str]]:
    out = []
    for block in data.decode("utf-8", "replace").split("\n\n")[:-1]:
        name, payload = "", ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                payload += line[6:]
        out.append((name, payload))
    return out


def parse_sse(data: bytes) -> list[tuple[str, dict]]:
    """Complete SSE events in `data` as (event name, decoded data); a torn tail is dropped."""
    return [(name, json.loads(payload)) for name, payload in _sse_blocks(data)]
