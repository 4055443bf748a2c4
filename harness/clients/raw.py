"""The raw probe client: one ``POST /v1/messages?beta=true``, and exactly how it ended.

trio + h11 (HTTP/1.1) / h2 (h2c with prior knowledge, h2 over TLS with ALPN), sans-IO:
the client owns its socket (conn.py), so it reports the end of an exchange from the
socket's and the protocol's own view, which is what ``outcome.classify`` needs:

    end          how it is detected
    complete     h11 EndOfMessage / h2 StreamEnded on our stream
    eof          recv() returned b"" (FIN, or TLS close_notify + FIN) before that; also
                 h11's "incomplete body" protocol error, and an EOF in the TLS handshake
    reset        ECONNRESET or EPIPE from recv()/send() (the first error goes to whichever
                 call asks first, so a failed upload is reported by the reader too)
    rst_stream   h2 StreamReset on our stream (code = the frame's error code)
    goaway       h2 ConnectionTerminated (GOAWAY) before our stream ended (code); a
                 GOAWAY(NO_ERROR) whose last_stream_id covers our stream lets the stream
                 go on: it ends as whatever ends it (complete, RST_STREAM, RST), or as
                 goaway when the connection then closes (FIN) first
    timeout      our own timers: connect (TCP + TLS) and headers share probe.timeout from
                 the start; body = probe.idle_timeout (default probe.timeout) of
                 silence while we wait on the socket (our own pacing/pauses don't count);
                 a kernel ETIMEDOUT (keepalive / user timeout) is reported as timeout too
    connect_error  TCP connect failed (errno, e.g. ECONNREFUSED 111), name resolution
                 failed, or TLS verification failed (errno None); other socket errors
                 on an established connection (EHOSTUNREACH, ENETUNREACH) also land here,
                 with the errno, since they are neither an RST nor a FIN

Also recorded: status, message_stop (SSE event, or a complete JSON message when not
streaming), ``event: error`` type, API error body type, t_headers / t_failure / t_total
(seconds from the request start, i.e. before connect), response-body bytes and complete
SSE events received, request-id and cf-ray (as soon as headers arrive), the negotiated
protocol, the client's own message ("ConnectionResetError: [Errno 104] Connection reset
by peer", "RST_STREAM code 2", ...), request_bytes (body length). One attempt, no retries.

Probe knobs: keepalive (SO_KEEPALIVE, TCP_KEEPIDLE=idle, TCP_KEEPINTVL=max(1, idle/3),
TCP_KEEPCNT=3), read_pace (bytes/s from the socket; SO_RCVBUF shrinks to 16 KB so the
backlog reaches the server), read_pauses ((after_seconds since the request start,
pause_seconds)), h2_window (our INITIAL_WINDOW_SIZE, and the connection window raised to
it; credit is returned only for DATA the client has read, so pacing backs up to the
server), canary (a second connection, HEAD / then idle; reported under
``record.probe["canary"]``), and the typed knobs idle_timeout, connect_timeout, rcvbuf,
user_timeout (TCP_USER_TIMEOUT seconds), congestion (TCP_CONGESTION), headers (extra
request headers), seed (body seed), think_time, canary_timeout (seconds the canary may take
to connect and answer HEAD /, at the start and at the end; default min(3, probe.timeout)).

What the record's ``probe`` dict adds to the Probe's fields: ``api_key`` ("env" when the
key came from ``probe.api_key_env``, "dummy" otherwise; never the key), ``sockopts``
(read back with getsockopt after connect), and with ``canary``:

    {"alive": bool, "end": "open" | "eof" | "reset" | "goaway" | "rst_stream" | "timeout"
     | "connect_error" | "error" | "protocol_error", "t": seconds after the probe's
     start when it was found dead (null if alive), "protocol": ..., "heads": HEADs sent,
     plus "errno" / "code" / "phase" / "message" when they apply}
"""

from __future__ import annotations

import errno as errnos
import json
import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h11
import trio

from harness.http.observe import Seen, seen_h1, seen_h2
from harness.outcome import Observation, ProbeRecord, classify
from netem.errors import ConfigError

from .common import mock_headers
from .conn import Conn, Deadline, HandshakeEOF, Pacer
from .context import build_body
from .probe import Probe

CLIENT = "raw"
RESET_ERRNOS = (errnos.ECONNRESET, errnos.EPIPE)
PACED_RCVBUF = 16 * 1024
MAX_BODY_KEPT = 4 * 1024 * 1024  # non-SSE response bodies kept for parsing
H2_DEFAULT_WINDOW = 65535


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("resetlab")
    except Exception:  # not installed: running from a checkout
        return "0.1.0"


VERSION = _version()
USER_AGENT = f"resetlab-raw/{VERSION}"


# --- target -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    prefix: str  # path prefix of base_url, without a trailing slash
    protocol: str  # http1 | h2 | h2c (what the probe asks for)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    @classmethod
    def from_probe(cls, probe: Probe) -> Target:
        parts = urlsplit(probe.base_url)
        if not parts.hostname:
            raise ConfigError("Probe.base_url", probe.base_url, "an http:// or https:// URL with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError("Probe.base_url", probe.base_url, "a port in 1..65535") from None
        if probe.protocol == "h2" and parts.scheme != "https":
            raise ConfigError("Probe.protocol", probe.protocol,
                              "'h2' with an https:// base_url (use 'h2c' for cleartext)")
        if probe.protocol == "h2c" and parts.scheme != "http":
            raise ConfigError("Probe.protocol", probe.protocol,
                              "'h2c' with an http:// base_url (use 'h2' over TLS)")
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), probe.protocol)

    def tls_context(self, ca_path: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=ca_path)
        ctx.set_alpn_protocols(["h2", "http/1.1"] if self.protocol == "h2" else ["http/1.1"])
        return ctx


# --- socket options -----------------------------------------------------------------------

def _configure(probe: Probe):
    def configure(sock) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if probe.keepalive is not None:
            idle = max(1, round(probe.keepalive))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, round(probe.keepalive / 3)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        if probe.read_pace is not None or probe.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(probe.rcvbuf or PACED_RCVBUF))
        if probe.user_timeout:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(probe.user_timeout * 1000))
        if probe.congestion:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, probe.congestion.encode())

    return configure


def read_sockopts(sock) -> dict[str, Any]:
    """The options in effect, read back from the kernel."""
    def get(level, opt):
        try:
            return sock.getsockopt(level, opt)
        except OSError:
            return None

    out = {"keepalive": bool(get(socket.SOL_SOCKET, socket.SO_KEEPALIVE)),
           "keepidle": get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
           "keepintvl": get(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
           "keepcnt": get(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
           "rcvbuf": get(socket.SOL_SOCKET, socket.SO_RCVBUF),
           "nodelay": bool(get(socket.IPPROTO_TCP, socket.TCP_NODELAY)),
           "user_timeout_ms": get(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)}
    try:
        out["congestion"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16) \
            .split(b"\0", 1)[0].decode()
    except OSError:
        out["congestion"] = None
    return out


# --- what the client saw ------------------------------------------------------------------

class SseParser:
    """Incremental SSE: complete events as (name, data text); CRLF tolerated."""

    def __init__(self) -> None:
        self._partial = b""
        self._name = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[tuple[str, str]]:
        out = []
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line:
                if self._name or self._data:
                    out.append((self._name, "\n".join(self._data)))
                self._name, self._data = "", []
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "event":
                    self._name = value
                elif key == "data":
                    self._data.append(value)
        return out


@dataclass
class _State:
    t0: float
    end: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message_stop: bool = False
    sse_error_type: str | None = None
    error_type: str | None = None
    h2_code: int | None = None
    errno: int | None = None
    timeout_phase: str | None = None
    t_headers: float | None = None
    t_fail: float | None = None
    t_end: float | None = None
    bytes: int = 0
    events: int = 0
    protocol: str | None = None
    message: str | None = None
    sse: SseParser | None = None
    body: bytearray = field(default_factory=bytearray)
    sockopts: dict[str, Any] | None = None
    goaway: tuple[int, str] | None = None  # a graceful GOAWAY that still covers our stream

    def now(self) -> float:
        return trio.current_time() - self.t0

    def finish(self, end: str, message: str | None = None, **kw: Any) -> None:
        """The first end wins (a later error is a consequence of the first)."""
        if self.end is not None:
            return
        self.end = end
        self.t_end = self.now()
        if end != "complete":
            self.t_fail = self.t_fail if self.t_fail is not None else self.t_end
        if message is not None and self.message is None:
            self.message = message
        for key, value in kw.items():
            setattr(self, key, value)

    def fail_with(self, exc: BaseException) -> None:
        """Map a socket / TLS error to an end kind."""
        msg = f"{type(exc).__name__}: {exc}"
        code = getattr(exc, "errno", None)
        if isinstance(exc, ssl.SSLError):
            self.finish("eof", msg)  # a broken TLS stream: not an RST, not a clean close either
        elif code in RESET_ERRNOS:
            self.finish("reset", msg, errno=code)
        elif code == errnos.ETIMEDOUT:  # the kernel gave up (keepalive / TCP_USER_TIMEOUT)
            self.finish("timeout", msg, errno=code, timeout_phase=self.phase)
        else:
            self.finish("connect_error", msg, errno=code)

    @property
    def phase(self) -> str:
        return "headers" if self.status is None else "body"

    def on_headers(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.t_headers = self.now()
        self.headers = {k.lower(): v for k, v in headers}
        ctype = self.headers.get("content-type", "")
        if status < 400 and ctype.startswith("text/event-stream"):
            self.sse = SseParser()

    def on_body(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.sse is None:
            if len(self.body) < MAX_BODY_KEPT:
                self.body += data
            return
        for name, text in self.sse.feed(data):
            self.events += 1
            if name == "message_stop":
                self.message_stop = True
            elif name == "error" and self.sse_error_type is None:
                self.t_fail = self.now()
                try:
                    err = json.loads(text).get("error") or {}
                    self.sse_error_type = str(err.get("type") or "unknown")
                    detail = err.get("message")
                except (ValueError, AttributeError):
                    self.sse_error_type, detail = "unknown", text[:200]
                self.message = f"event: error {self.sse_error_type}: {detail}"

    def settle(self) -> None:
        """After the end: interpret a JSON body (message or API error)."""
        if self.sse is not None or not self.body:
            return
        try:
            doc = json.loads(bytes(self.body))
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        if self.status is not None and self.status >= 400:
            err = doc.get("error") if isinstance(doc.get("error"), dict) else {}
            self.error_type = err.get("type")
            if self.message is None:
                self.message = f"HTTP {self.status} {self.error_type}: {err.get('message')}"
        elif doc.get("type") == "message":
            self.message_stop = True

    def observation(self) -> Observation:
        return Observation(end=self.end or "eof", status=self.status, message_stop=self.message_stop,
                           sse_error_type=self.sse_error_type, error_type=self.error_type,
                           h2_code=self.h2_code, errno=self.errno, timeout_phase=self.timeout_phase)


@dataclass(frozen=True)
class _Limits:
    headers_deadline: float  # trio time
    idle: float


async def _recv(st: _State, conn, lim: _Limits) -> bytes | None:
    """Next bytes for the protocol; None once a timeout has been recorded."""
    if st.status is None:
        data = await conn.recv(deadline=lim.headers_deadline)
        if data is None:
            st.finish("timeout", f"timeout: no response headers after {st.now():.3f} s",
                      timeout_phase="headers")
    else:
        data = await conn.recv(idle=lim.idle)
        if data is None:
            st.finish("timeout", f"timeout: no response bytes for {lim.idle} s", timeout_phase="body")
    return data


# --- HTTP/1.1 -------------------------------------------------------------------------------

async def _h1_warmup(conn, target: Target, headers: list[tuple[str, str]], lim: _Limits,
                     think: float) -> h11.Connection | str:
    """A pooled connection: HEAD / on it, then leave it idle for `think` seconds.

    Returns the h11 connection, ready for the next request, or why the warm-up failed.
    """
    h = h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 20)
    conn.queue(h.send(h11.Request(method="HEAD", target=target.prefix + "/",
                                  headers=[("host", target.authority), *headers])))
    conn.queue(h.send(h11.EndOfMessage()))
    while True:
        event = h.next_event()
        if event is h11.NEED_DATA:
            data = await conn.recv(lim.headers_deadline)
            if data is None:
                return "warm-up request timed out"
            h.receive_data(data)
            continue
        if isinstance(event, h11.EndOfMessage):
            break
        if isinstance(event, h11.ConnectionClosed):
            return "warm-up connection closed"
    h.start_next_cycle()
    # idle, and deliberately not reading: like a pool, we only find out on reuse
    await trio.sleep(think)
    return h


async def _h1(st: _State, conn, target: Target, headers: list[tuple[str, str]], body: bytes,
              lim: _Limits, h: h11.Connection | None = None) -> None:
    h = h or h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 20)
    req = h11.Request(method="POST", target=target.prefix + "/v1/messages?beta=true",
                      headers=[("host", target.authority), *headers,
                               ("content-length", str(len(body)))])
    conn.queue(h.send(req))
    if body:
        conn.queue(h.send(h11.Data(data=body)))
    conn.queue(h.send(h11.EndOfMessage()))
    eof = False
    while st.end is None:
        try:
            event = h.next_event()
        except h11.RemoteProtocolError as exc:
            if eof and conn.send_error is not None:
                st.fail_with(conn.send_error)
            else:
                if not eof:
                    st.finish("eof", f"bad response: {exc}")
                elif st.status is None:
                    st.finish("eof", "EOF: the server closed the connection (FIN) before response headers")
                else:
                    st.finish("eof", f"EOF (FIN) mid-response: {exc}")
            return
        if event is h11.NEED_DATA:
            data = await _recv(st, conn, lim)
            if data is None:
                return
            eof = not data
            h.receive_data(data)
        else:  # InformationalResponse (100 Continue) and PAUSED show nothing
            _take(st, seen_h1(event), "EOF: the server closed the connection (FIN) before a response")


def _take(st: _State, seen: Seen | None, eof_message: str) -> None:
    """What one event showed of our response (harness.http.observe), into the state."""
    if seen is None:
        return
    if seen.kind == "headers":
        st.on_headers(seen.status, list(seen.headers))
    elif seen.kind == "data":
        st.on_body(seen.data)
    elif seen.end == "complete":
        st.finish("complete")
    elif seen.end == "eof":
        st.finish("eof", eof_message)


# --- HTTP/2 ---------------------------------------------------------------------------------

class GoawaySplitter:
    """Cuts the server's byte stream right after each GOAWAY frame.

    h2 processes every frame of a ``receive_data`` call before returning events, and
    refuses frames after a GOAWAY; fed up to the GOAWAY alone, the client can decide
    (graceful GOAWAY covering our stream) to reopen the state and take the rest.
    """

    GOAWAY = 0x7

    def __init__(self) -> None:
        self._head = b""  # a partial 9-byte frame header
        self._skip = 0  # payload bytes left in the current frame
        self._goaway = False

    def split(self, data: bytes) -> list[bytes]:
        out, start, i, n = [], 0, 0, len(data)
        while i < n:
            if self._skip:
                take = min(self._skip, n - i)
                i += take
                self._skip -= take
            else:
                take = min(9 - len(self._head), n - i)
                self._head += data[i:i + take]
                i += take
                if len(self._head) < 9:
                    break
                self._skip = int.from_bytes(self._head[:3], "big")
                self._goaway = self._head[3] == self.GOAWAY
                self._head = b""
            if self._goaway and not self._skip:
                out.append(data[start:i])
                start, self._goaway = i, False
        if start < n:
            out.append(data[start:])
        return out


def _h2_connection(window: int | None) -> h2.connection.H2Connection:
    h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    values = dict(h.local_settings.items())
    values[h2.settings.SettingCodes.ENABLE_PUSH] = 0
    if window is not None:
        values[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = window
    # current (not pending) values, so the connection preface carries them
    h.local_settings = h2.settings.Settings(client=True, initial_values=values)
    h.initiate_connection()
    if window is not None and window > H2_DEFAULT_WINDOW:
        h.increment_flow_control_window(window - H2_DEFAULT_WINDOW)  # the connection window
    return h


def _code_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return "unknown"


async def _h2(st: _State, conn, target: Target, headers: list[tuple[str, str]], body: bytes,
              lim: _Limits, window: int | None, nursery: trio.Nursery) -> None:
    h = _h2_connection(window)
    sid = h.get_next_available_stream_id()
    fields = [(":method", "POST"), (":scheme", target.scheme), (":authority", target.authority),
              (":path", target.prefix + "/v1/messages?beta=true"), *headers,
              ("content-length", str(len(body)))]
    h.send_headers(sid, fields, end_stream=not body)
    conn.queue(h.data_to_send())
    credit = trio.Event()  # set when the server grants flow-control window
    box = {"credit": credit}

    async def send_body() -> None:
        pos = 0
        try:
            while pos < len(body):
                n = min(len(body) - pos, h.local_flow_control_window(sid), h.max_outbound_frame_size)
                if n <= 0:
                    box["credit"] = trio.Event()
                    await box["credit"].wait()
                    continue
                h.send_data(sid, body[pos:pos + n], end_stream=pos + n == len(body))
                conn.queue(h.data_to_send())
                pos += n
                await trio.sleep(0)
        except h2.exceptions.H2Error:
            return  # the stream or connection is gone; the reader reports how

    if body:
        nursery.start_soon(send_body)
    splitter = GoawaySplitter()

    while st.end is None:
        data = await _recv(st, conn, lim)
        if data is None:
            return
        if not data:
            if conn.send_error is not None:
                st.fail_with(conn.send_error)
            elif st.goaway is not None:  # the connection closed as the GOAWAY announced
                st.finish("goaway", st.goaway[1] + ", then EOF", h2_code=st.goaway[0])
            else:
                st.finish("eof", "EOF: the server closed the connection (FIN) before our stream ended")
            return
        for piece in splitter.split(data):
            if st.end is not None:
                break
            try:
                events = h.receive_data(piece)
            except h2.exceptions.ProtocolError as exc:
                conn.queue(h.data_to_send())
                st.finish("eof", f"HTTP/2 protocol error: {exc}")
                return
            for event in events:
                _h2_event(st, h, sid, event)
                if isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                    box["credit"].set()
            conn.queue(h.data_to_send())


def _h2_event(st: _State, h, sid: int, event) -> None:
    seen = seen_h2(event, sid)
    if st.end is not None or seen is None:
        return
    if seen.kind == "data":
        st.on_body(seen.data)
        # Credit only what we have read: with pacing, the socket is read slowly, so the
        # server's window refills at our pace.
        try:
            h.acknowledge_received_data(seen.flow, sid)
        except h2.exceptions.H2Error:
            pass
    elif seen.end == "rst_stream":
        st.finish("rst_stream", f"RST_STREAM code {seen.code}", h2_code=seen.code)
    elif seen.end == "goaway":
        code, last = seen.code, seen.last_stream_id
        msg = f"GOAWAY code {code} ({_code_name(code)}), last_stream_id {last}"
        if code == 0 and last is not None and last >= sid and st.goaway is None:
            # A graceful GOAWAY that covers our stream: it may still finish. h2 closes its
            # state machine on any GOAWAY, so reopen it to keep receiving our stream.
            st.goaway = (code, msg)
            h.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        else:
            st.finish("goaway", msg, h2_code=code)
    else:
        _take(st, seen, "")


# --- canary -----------------------------------------------------------------------------------

class Canary:
    """A second connection to the same target: HEAD /, then idle beside the probe.

    A reader task watches it the whole time (RST, FIN, GOAWAY are noted with their time);
    at the end another HEAD / shows whether it still answers.
    """

    def __init__(self, probe: Probe, target: Target):
        self.probe, self.target = probe, target
        self.conn = None
        self.h1: h11.Connection | None = None
        self.h2: h2.connection.H2Connection | None = None
        self.protocol: str | None = None
        self.end: str | None = None  # None while alive
        self.t_end: float | None = None  # trio time
        self.detail: dict[str, Any] = {}
        self._answer: trio.Event = trio.Event()
        self._status: int | None = None
        self._sid: int | None = None
        self.heads = 0
        self.timeout = probe.canary_timeout if probe.canary_timeout is not None else min(3.0, probe.timeout)

    def _die(self, end: str, **detail: Any) -> None:
        if self.end is None:
            self.end, self.t_end = end, trio.current_time()
            self.detail.update({k: v for k, v in detail.items() if v is not None})
        self._answer.set()

    async def open(self, nursery: trio.Nursery) -> None:
        deadline = trio.current_time() + self.timeout
        try:
            self.conn = await Conn.connect(self.target.host, self.target.port, deadline=deadline,
                                           configure=_configure_canary(self.probe))
            if self.target.tls:
                alpn = await self.conn.start_tls(self.target.tls_context(self.probe.ca_path),
                                                 self.target.host, deadline)
                self.protocol = "h2" if alpn == "h2" else "http/1.1"
            else:
                self.protocol = "h2c" if self.target.protocol == "h2c" else "http/1.1"
        except Deadline:
            self._die("timeout", phase="connect")
            return
        except (OSError, ssl.SSLError) as exc:
            self._die("connect_error", errno=getattr(exc, "errno", None),
                      message=f"{type(exc).__name__}: {exc}")
            return
        if self.protocol == "http/1.1":
            self.h1 = h11.Connection(h11.CLIENT)
        else:
            self.h2 = _h2_connection(None)
            self.conn.queue(self.h2.data_to_send())
        nursery.start_soon(self.conn.writer)
        nursery.start_soon(self._reader)
        await self._head(deadline)

    async def _head(self, deadline: float) -> int | None:
        """Send HEAD /; the status, or None if the canary died or did not answer in time."""
        if self.end is not None:
            return None
        self._answer, self._status = trio.Event(), None
        self.heads += 1
        try:
            if self.h1 is not None:
                if self.h1.our_state is h11.DONE and self.h1.their_state is h11.DONE:
                    self.h1.start_next_cycle()
                self.conn.queue(self.h1.send(h11.Request(
                    method="HEAD", target=self.target.prefix + "/",
                    headers=[("host", self.target.authority), ("user-agent", USER_AGENT)])))
                self.conn.queue(self.h1.send(h11.EndOfMessage()))
            else:
                self._sid = self.h2.get_next_available_stream_id()
                self.h2.send_headers(self._sid, [
                    (":method", "HEAD"), (":scheme", self.target.scheme),
                    (":authority", self.target.authority), (":path", self.target.prefix + "/"),
                    ("user-agent", USER_AGENT)], end_stream=True)
                self.conn.queue(self.h2.data_to_send())
        except (h11.LocalProtocolError, h2.exceptions.H2Error) as exc:
            self._die("protocol_error", message=f"{type(exc).__name__}: {exc}")
            return None
        with trio.move_on_at(deadline):
            await self._answer.wait()
        return self._status if self.end is None else None

    async def _reader(self) -> None:
        try:
            while self.end is None:
                data = await self.conn.recv()
                if not data:
                    if self.conn.send_error is not None:
                        raise self.conn.send_error
                    self._die("eof")
                    return
                self._feed(data)
        except trio.ClosedResourceError:
            return  # finish() closed it
        except (h11.ProtocolError, h2.exceptions.H2Error) as exc:
            self._die("protocol_error", message=f"{type(exc).__name__}: {exc}")
        except (OSError, ssl.SSLError) as exc:
            code = getattr(exc, "errno", None)
            end = "reset" if code in RESET_ERRNOS else "error"
            self._die(end, errno=code if isinstance(exc, OSError) else None,
                      message=f"{type(exc).__name__}: {exc}")

    def _feed(self, data: bytes) -> None:
        if self.h1 is not None:
            self.h1.receive_data(data)
            while True:
                try:
                    event = self.h1.next_event()
                except h11.RemoteProtocolError as exc:
                    self._die("protocol_error", message=f"RemoteProtocolError: {exc}")
                    return
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if self._take(seen_h1(event)):
                    return
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._die("protocol_error", message=f"ProtocolError: {exc}")
            return
        for event in events:
            self._take(seen_h2(event, self._sid))
        self.conn.queue(self.h2.data_to_send())

    def _take(self, seen: Seen | None) -> bool:
        """What one event showed of the HEAD's answer; True once the canary died."""
        if seen is None:
            return False
        if seen.kind == "headers":
            self._status = seen.status
        elif seen.end == "complete":
            self._answer.set()
        elif seen.end is not None:
            self._die(seen.end, code=seen.code)
            return True
        return False

    async def finish(self, t0: float) -> dict[str, Any]:
        """Check whether the canary still answers; the report for record.probe['canary']."""
        if self.end is None:
            status = await self._head(trio.current_time() + self.timeout)
            if status is None and self.end is None:
                self._die("timeout", phase="check")
        if self.conn is not None:
            self.conn.close()
        alive = self.end is None
        out: dict[str, Any] = {"alive": alive, "end": "open" if alive else self.end,
                               "t": None if alive else round(self.t_end - t0, 6),
                               "protocol": self.protocol, "heads": self.heads}
        out.update(self.detail)
        return out


def _configure_canary(probe: Probe):
    """The canary is the probe's twin (keepalive, congestion) but no slow reader."""
    return _configure(Probe(base_url=probe.base_url, keepalive=probe.keepalive, user_timeout=probe.user_timeout,
                            congestion=probe.congestion))


# --- one probe --------------------------------------------------------------------------------

def _request_headers(probe: Probe) -> tuple[list[tuple[str, str]], str]:
    key = os.environ.get(probe.api_key_env) if probe.api_key_env else None
    source = "env" if key else "dummy"
    headers = [("x-api-key", key or "lab-key"), ("anthropic-version", "2023-06-01"),
               ("content-type", "application/json"), ("accept", "application/json"),
               ("x-stainless-retry-count", "0"), ("user-agent", USER_AGENT)]
    headers += mock_headers(probe).items()
    return headers, source


async def _exchange(st: _State, probe: Probe, target: Target, headers, body: bytes) -> None:
    connect_deadline = st.t0 + (probe.connect_timeout if probe.connect_timeout is not None else probe.timeout)
    lim = _Limits(headers_deadline=st.t0 + probe.timeout,
                  idle=probe.idle_timeout if probe.idle_timeout is not None else probe.timeout)
    try:
        conn = await Conn.connect(target.host, target.port,
                                  deadline=min(connect_deadline, lim.headers_deadline),
                                  configure=_configure(probe))
    except Deadline:
        st.finish("timeout", f"timeout: no TCP connection after {st.now():.3f} s",
                  timeout_phase="connect")
        return
    except OSError as exc:  # ECONNREFUSED, ENETUNREACH, name resolution (gaierror)
        st.finish("connect_error", f"{type(exc).__name__}: {exc}", errno=exc.errno)
        return
    try:
        st.sockopts = read_sockopts(conn.sock)
        if target.tls:
            try:
                alpn = await conn.start_tls(target.tls_context(probe.ca_path), target.host,
                                            min(connect_deadline, lim.headers_deadline))
            except Deadline:
                st.finish("timeout", f"timeout: TLS handshake not done after {st.now():.3f} s",
                          timeout_phase="connect")
                return
            except HandshakeEOF as exc:
                st.finish("eof", f"{type(exc).__name__}: {exc}")
                return
            except ssl.SSLError as exc:  # e.g. certificate verify failed
                st.finish("connect_error", f"{type(exc).__name__}: {exc}")
                return
            st.protocol = "h2" if alpn == "h2" else "http/1.1"
        else:
            st.protocol = "h2c" if target.protocol == "h2c" else "http/1.1"
        pauses = [(st.t0 + after, pause) for after, pause in probe.read_pauses]
        if probe.read_pace is not None or pauses:
            conn.pacer = Pacer(probe.read_pace, pauses)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.writer)
            try:  # caught here, not outside: newer trio wraps nursery errors in groups
                think = probe.think_time
                if think and st.protocol == "http/1.1":
                    h = await _h1_warmup(conn, target, headers, lim, float(think))
                    if isinstance(h, str):
                        st.finish("eof", h)
                        return
                    # the probe is the request made after the think time
                    st.t0 = trio.current_time()
                    lim = _Limits(headers_deadline=st.t0 + probe.timeout, idle=lim.idle)
                    await _h1(st, conn, target, headers, body, lim, h)
                elif think:
                    raise ConfigError("Probe.think_time", think, "HTTP/1.1 probes only (pooled reuse)")
                elif st.protocol == "http/1.1":
                    await _h1(st, conn, target, headers, body, lim)
                else:
                    await _h2(st, conn, target, headers, body, lim, probe.h2_window, nursery)
            except (OSError, ssl.SSLError) as exc:
                st.fail_with(exc)
            nursery.cancel_scope.cancel()
    except (OSError, ssl.SSLError) as exc:  # before the exchange: TLS handshake reset
        st.fail_with(exc)
    finally:
        conn.close()


async def probe_async(probe: Probe) -> ProbeRecord:
    """Run one probe inside trio; never raises for what the network did (that is the result).

    Raises ConfigError for a probe that cannot be run (e.g. h2 with an http:// URL).
    """
    target = Target.from_probe(probe)
    body = build_body(probe.size, stream=probe.stream, model=probe.model,
                      max_tokens=probe.max_tokens, seed=probe.seed)
    headers, key_source = _request_headers(probe)
    info = probe.public()
    info["api_key"] = key_source
    async with trio.open_nursery() as nursery:
        canary = None
        if probe.canary:
            canary = Canary(probe, target)
            await canary.open(nursery)
        st = _State(t0=trio.current_time())
        await _exchange(st, probe, target, headers, body)
        if st.end is None:  # cannot happen; never report a silent success
            st.finish("eof", "internal: the exchange ended without an end kind")
        st.settle()
        if canary is not None:
            info["canary"] = await canary.finish(st.t0)
        nursery.cancel_scope.cancel()
    info["sockopts"] = st.sockopts
    outcome = classify(st.observation())
    t_end = st.t_end if st.t_end is not None else st.now()
    # from_outcome takes the status from the outcome (http_error) or from kw (the rest)
    return ProbeRecord.from_outcome(
        outcome, CLIENT, client_version=VERSION, protocol=st.protocol, status=st.status,
        bytes_received=st.bytes, events_received=st.events, request_bytes=len(body),
        t_headers=_round(st.t_headers),
        t_failure=None if outcome.kind == "completed" else _round(st.t_fail if st.t_fail is not None else t_end),
        t_total=_round(t_end), request_id=st.headers.get("request-id"), cf_ray=st.headers.get("cf-ray"),
        attempt=1, attempts=1, client_message=st.message, probe=info)


def _round(t: float | None) -> float | None:
    return None if t is None else round(max(0.0, t), 6)


def run(probe: Probe) -> ProbeRecord:
    """Synchronous entry point (the runner registered as "raw")."""
    return trio.run(probe_async, probe)

