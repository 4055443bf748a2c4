"""What the raw client saw of its response: the state the HTTP/1.1 and HTTP/2 readers fill
(SSE events, body, how it ended) and the deadlines they read under."""

from __future__ import annotations

import errno as errnos
import json
import ssl
from dataclasses import dataclass, field
from typing import Any

import trio

from harness.outcome import Observation

from .target import MAX_BODY_KEPT, RESET_ERRNOS


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
    stage: str = "start"  # where the exchange is (connect, tls, warm-up, think, request): named
    # by the overall deadline when it fires

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
    upload_idle: float | None = None  # before headers: no upload progress this long is a timeout


UPLOAD_CHECK = 0.25  # seconds between looks at the upload's progress while waiting for headers


async def _recv(st: _State, conn, lim: _Limits) -> bytes | None:
    """Next bytes for the protocol; None once a timeout has been recorded."""
    if st.status is None:
        data = await (_recv_uploading(st, conn, lim) if lim.upload_idle is not None
                      else conn.recv(deadline=lim.headers_deadline))
        if data is None and st.end is None:
            st.finish("timeout", f"timeout: no response headers after {st.now():.3f} s",
                      timeout_phase="headers")
    else:
        data = await conn.recv(idle=lim.idle)
        if data is None:
            st.finish("timeout", f"timeout: no response bytes for {lim.idle} s", timeout_phase="body")
    return data


async def _recv_uploading(st: _State, conn, lim: _Limits) -> bytes | None:
    """conn.recv before headers, looking at the upload every UPLOAD_CHECK s: bytes still queued
    (ours or the kernel's, unacknowledged) and none acknowledged for `upload_idle` seconds
    end the probe as a timeout in phase "upload". A NAT that forgot a starved 32 MB upload
    otherwise held it until its headers deadline (139 s of a 2-second-scale world)."""
    pending, moved = conn.upload_pending(), trio.current_time()
    while True:
        data = await conn.recv(deadline=min(lim.headers_deadline, trio.current_time() + UPLOAD_CHECK))
        now = trio.current_time()
        if data is not None or now >= lim.headers_deadline:
            return data
        left = conn.upload_pending()
        if left < pending or not left:
            moved = now
        pending = left
        if left and now - moved >= lim.upload_idle:
            st.finish("timeout", f"timeout: the upload made no progress for {now - moved:.3f} s "
                                 f"({left} bytes not acknowledged)", timeout_phase="upload")
            return None
