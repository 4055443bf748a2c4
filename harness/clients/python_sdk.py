"""python-sdk: one probe with the real `anthropic` Python SDK, mapped to the outcome taxonomy.

    anthropic.Anthropic(base_url, api_key, max_retries=probe.max_retries, timeout=probe.timeout)
    messages.create(stream=True) iterated event by event  |  messages.create() (probe.stream False)

The body is harness.clients.context.build_body(probe.size, ...), decoded and passed through
the SDK (model, max_tokens, system, messages, tools). Lab headers (x-resetlab-plan,
x-resetlab-stream, x-resetlab-probe-id) go in `extra_headers`. httpx event hooks record each
attempt's start, its response headers (time, status, request-id, cf-ray) even when the body
later fails; the SDK's own retry loop stays untouched (the SDK's default transport, with its
60/60/5 keepalive, unless probe.keepalive asks for another). probe.think_time: a
HEAD / first opens a pooled connection, idle this long before the probe reuses it.

How what the SDK raised becomes an Observation (measured with anthropic 2.14 / httpx2):
    stream ended with message_stop                      complete, message_stop
    stream ended without message_stop (the SDK says ok) complete, no message_stop -> truncated_clean
    raw httpx2.ReadError, errno 104 in the cause chain  reset (status 200: mid-stream)
    raw httpx2.RemoteProtocolError "incomplete chunked read"   eof (fin_mid_stream)
    APIStatusError with status >= 400 (after retries)   complete, status + error.type -> http_error
    APIStatusError raised by an `event: error` (status 200)     sse_error(error.type)
    APIConnectionError before headers: the cause chain decides:
        errno ECONNRESET/EPIPE -> reset; httpx2.ConnectError -> connect_error(errno);
        RemoteProtocolError "Server disconnected without sending a response" -> eof, unless
        a write of that attempt failed with ECONNRESET/EPIPE -> reset (see _recording)
    APITimeoutError / raw httpx2.ReadTimeout            timeout(connect | headers | body)
    RemoteProtocolError(<StreamReset error_code:N>)     rst_stream N (h2 / h2c probes)
    RemoteProtocolError(<ConnectionTerminated error_code:N>)  goaway N
`client_message` is "<exception class>: <str(exception)>" as the SDK presents it.
"""

from __future__ import annotations

import errno as errno_mod
import json
import re
import socket
import ssl
import time
import warnings
from typing import Any

from harness.outcome import Observation, ProbeRecord, classify

from . import retries
from .common import api_key, http_version, lab_headers, make_record, request_body
from .probe import Probe

CLIENT = "python-sdk"
RESET_ERRNOS = (errno_mod.ECONNRESET, errno_mod.EPIPE)


class _Tap:
    """httpx event hooks: what each attempt got, in the client's own clock."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.starts: list[float] = []  # seconds since t0, one per attempt
        self.headers_at: float | None = None  # of the current (last) attempt
        self.status: int | None = None
        self.request_id: str | None = None
        self.cf_ray: str | None = None
        self.protocol: str | None = None
        self.response: Any = None
        self.write_errnos: list[int] = []  # of the current attempt (_recording)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def on_request(self, request: Any) -> None:
        self.starts.append(self.now())
        self.headers_at = self.status = self.request_id = self.cf_ray = None
        self.response = None
        self.write_errnos = []

    def on_response(self, response: Any) -> None:
        self.headers_at = self.now()
        self.status = response.status_code
        self.request_id = response.headers.get("request-id")
        self.cf_ray = response.headers.get("cf-ray")
        self.protocol = http_version(response.http_version)
        if self.protocol == "h2" and response.url.scheme == "http":
            self.protocol = "h2c"
        self.response = response

    @property
    def attempt_start(self) -> float:
        return self.starts[-1] if self.starts else 0.0

    def bytes_received(self) -> int:
        try:
            return int(self.response.num_bytes_downloaded) if self.response is not None else 0
        except (AttributeError, TypeError):
            return 0


def _recording(stream: Any, tap: _Tap) -> Any:
    """Remember the errno of a failed write on this stream (and its TLS successor).

    httpcore swallows a write error while it sends the request (so that a server that
    answers early, e.g. 413, is still heard), then reads: after an RST the first error went
    to the write, the read sees EOF, and the SDK says "Server disconnected without sending a
    response" -- an RST during a large upload would be filed as a FIN. Measured: 8 MB body,
    RST after 1 MB, 4 of 4 on loopback before this."""
    write, start_tls = stream.write, getattr(stream, "start_tls", None)

    def recorded_write(buffer: bytes, timeout: float | None = None) -> None:
        try:
            write(buffer, timeout)
        except Exception as exc:
            tap.write_errnos += [e.errno for e in _chain(exc) if isinstance(e, OSError) and e.errno]
            raise

    stream.write = recorded_write
    if start_tls is not None:
        stream.start_tls = lambda *a, **kw: _recording(start_tls(*a, **kw), tap)
    return stream


def _record_write_errors(http_client: Any, tap: _Tap) -> None:
    """Give the client's connection pool a backend whose streams record write errors.
    httpx2 takes no network backend, so the pool's (private) attribute is set before the
    first request; if a later httpx2 renames it, the fix is lost, not the probe."""
    import httpcore2

    class Backend(httpcore2.SyncBackend):
        def connect_tcp(self, *a: Any, **kw: Any) -> Any:
            return _recording(super().connect_tcp(*a, **kw), tap)

    pool = getattr(getattr(http_client, "_transport", None), "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = Backend()


def _http_client(probe: Probe, tap: _Tap):
    import anthropic
    import httpx2

    kwargs: dict[str, Any] = {"trust_env": False,  # never route lab traffic via a proxy from the env
                              "event_hooks": {"request": [tap.on_request], "response": [tap.on_response]}}
    if probe.ca_path:
        kwargs["verify"] = ssl.create_default_context(cafile=probe.ca_path)
    if probe.protocol == "h2":
        kwargs["http2"] = True
    elif probe.protocol == "h2c":
        kwargs["http1"], kwargs["http2"] = False, True  # HTTP/2 prior knowledge
    if probe.keepalive is not None:
        idle = int(probe.keepalive)
        opts = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
                (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle),
                (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, idle // 3)),
                (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)]
        tkw = {k: kwargs[k] for k in ("verify", "http1", "http2") if k in kwargs}
        kwargs["transport"] = httpx2.HTTPTransport(socket_options=opts, **tkw)
    client = anthropic.DefaultHttpxClient(**kwargs)
    _record_write_errors(client, tap)
    return client


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 12:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _error_type(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("type"), str):
            return err["type"]
        if isinstance(body.get("type"), str) and body["type"] != "error":
            return body["type"]
    return None


def _h2_event(chain: list[BaseException]) -> tuple[str, int] | None:
    """("rst_stream" | "goaway", code) when httpcore raised on an h2 StreamReset /
    ConnectionTerminated event (it passes the event as the exception's argument)."""
    for e in chain:
        for arg in getattr(e, "args", ()):
            name = type(arg).__name__
            code = getattr(arg, "error_code", None)
            if name == "StreamReset" and code is not None:
                return "rst_stream", int(code)
            if name == "ConnectionTerminated" and code is not None:
                return "goaway", int(code)
        m = re.search(r"<(StreamReset|ConnectionTerminated) [^>]*error_code:(?:ErrorCodes\.\w+: )?(\d+)", str(e))
        if m:
            return ("rst_stream" if m.group(1) == "StreamReset" else "goaway"), int(m.group(2))
    return None


def observe_exception(exc: BaseException, tap: _Tap) -> Observation:
    """What the SDK raised, as an Observation (see the module docstring)."""
    import anthropic
    import httpx2

    chain = _chain(exc)
    headers = tap.headers_at is not None
    status = tap.status if headers else None
    if isinstance(exc, anthropic.APIStatusError):
        etype = _error_type(exc.body)
        if exc.status_code >= 400:
            return Observation(end="complete", status=exc.status_code, error_type=etype)
        return Observation(end="complete", status=exc.status_code, sse_error_type=etype or "unknown")
    if isinstance(exc, anthropic.APITimeoutError) or any(isinstance(e, httpx2.TimeoutException) for e in chain):
        if any(isinstance(e, httpx2.ConnectTimeout) for e in chain):
            phase = "connect"
        else:
            phase = "body" if headers else "headers"
        return Observation(end="timeout", status=status, timeout_phase=phase)
    h2 = _h2_event(chain)
    if h2 is not None:  # HTTP/2: the peer reset our stream or sent GOAWAY
        kind, code = h2
        return Observation(end=kind, status=status, h2_code=code)
    errnos = [e.errno for e in chain if isinstance(e, OSError) and e.errno] + tap.write_errnos
    if any(n in RESET_ERRNOS for n in errnos):
        return Observation(end="reset", status=status, errno=errno_mod.ECONNRESET)
    if not headers and any(isinstance(e, httpx2.ConnectError) for e in chain):
        return Observation(end="connect_error", errno=errnos[0] if errnos else None)
    # RemoteProtocolError (peer closed: "incomplete chunked read", "Server disconnected
    # without sending a response"), or anything else that ended the exchange without RST
    return Observation(end="eof", status=status)


def _quiet(fn, **kw):
    """Call the SDK without its model-deprecation notice (the lab's model names are old)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The model .* is deprecated", DeprecationWarning)
        return fn(**kw)


def run(probe: Probe) -> ProbeRecord:
    import anthropic

    probe_id = retries.new_probe_id()
    body = request_body(probe)
    body.pop("stream", None)
    headers = lab_headers(probe, probe_id)
    tap = _Tap()
    http = _http_client(probe, tap)
    client = anthropic.Anthropic(base_url=probe.base_url, api_key=api_key(probe),
                                 max_retries=probe.max_retries, timeout=probe.timeout, http_client=http)
    think = probe.think_time
    if think:  # the probe reuses a pooled connection left idle this long (HEAD / opens it)
        http.head(probe.base_url.rstrip("/") + "/", headers={"x-api-key": api_key(probe)})
        time.sleep(float(think))
        tap.__init__()  # the warm-up is not an attempt of the probe
    events = 0
    message: str | None = None
    t_fail: float | None = None
    try:
        if probe.stream:
            stream = _quiet(client.messages.create, **body, stream=True, extra_headers=headers)
            message_stop = False
            with stream:
                for event in stream:
                    events += 1
                    if event.type == "message_stop":
                        message_stop = True
            obs = Observation(end="complete", status=tap.status, message_stop=message_stop)
        else:
            msg = _quiet(client.messages.create, **body, extra_headers=headers)
            obs = Observation(end="complete", status=tap.status, message_stop=msg.type == "message")
    except Exception as exc:  # what the SDK raised is the measurement
        t_fail = tap.now()
        obs = observe_exception(exc, tap)
        message = f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    t_total = tap.now()
    outcome = classify(obs)
    if t_fail is None and outcome.kind != "completed":
        t_fail = t_total  # e.g. truncated_clean: the end itself was the failure
    view = retries.collect(probe, probe_id, expect=len(tap.starts))
    if view is not None and view.attempts:
        attempts, delays = view.attempts, view.delays
        request_bytes = view.records[0].get("body_bytes", 0)
    else:
        attempts = max(1, len(tap.starts))
        delays = [round(b - a, 6) for a, b in zip(tap.starts, tap.starts[1:], strict=False)]
        request_bytes = len(json.dumps(body))
    start = tap.attempt_start
    return make_record(
        outcome, CLIENT, status=obs.status, client_version=anthropic.__version__,
        protocol=tap.protocol, bytes_received=tap.bytes_received(), events_received=events,
        request_bytes=request_bytes,
        t_headers=None if tap.headers_at is None else round(tap.headers_at - start, 6),
        t_failure=None if t_fail is None else round(max(0.0, t_fail - start), 6),
        t_total=round(t_total, 6), request_id=tap.request_id, cf_ray=tap.cf_ray,
        attempt=attempts, attempts=attempts, retry_delays=delays, client_message=message,
        probe=retries.public_probe(probe))
