"""The mock Messages API: routing, validation, and the two response kinds.

Routes:
    HEAD /                             200, empty (Claude Code probes it at start)
    POST /v1/messages[?beta=true]      streaming ("stream": true) or not; fault plans apply
    POST /v1/messages/count_tokens     {"input_tokens": N}
    anything else                      404 not_found_error

Order for POST /v1/messages: invalid ``x-resetlab-plan`` / ``x-resetlab-stream`` header
-> 400 naming the problem; Content-Length over max_body_bytes -> 413 request_too_large
(body not read, connection closed); [plan checkpoint request_headers]; read the body
[checkpoints request_body], 413 if it grows past the limit; [checkpoint
before_response_headers]; no x-api-key and no "authorization: Bearer ..." -> 401
authentication_error; body not a JSON object -> 400 invalid_request_error; then the
response. ``x-resetlab-plan`` replaces the server's plan for that request;
``x-resetlab-stream`` keys are merged over the server's stream config.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from typing import TYPE_CHECKING

import trio

from harness.http.exchange import ClientGone, Exchange, Terminated

from .attempts import from_headers
from .injector import Injector
from .plan import parse_plan
from .reqlog import redact_headers
from .responses import common_headers, send_error
from .sse import build_message, estimate_input_tokens, parse_stream_spec, random_id, stream_script
from .validate import SpecError

if TYPE_CHECKING:
    from .config import OriginState

BODY_CHUNK = 16 * 1024  # non-streaming bodies go out in pieces so after_bytes can cut them
DRIFT = 0.05  # s of lateness a stream schedule absorbs before it restarts from now


class TooLarge(Exception):
    pass


class Request:
    """One request being served: the exchange, its injector and what goes in the log."""

    def __init__(self, ex: Exchange, state: OriginState):
        self.ex = ex
        self.state = state
        self.inj = Injector((), ex)  # replaced with the real plan on /v1/messages
        self.path = ex.target.split("?", 1)[0]
        self.served: str | None = None
        self.outcome = "completed"
        self.attempt: tuple[int, str] | None = None
        self.stream_json: dict | None = None
        self.plan_source: str | None = None
        self.error: str | None = None
        self.body_digest: str | None = None  # sha256 of the whole body, once read (tells bodies apart)
        # trio's clock is monotonic; the log wants Unix times.
        self.clock_offset = time.time() - trio.current_time()
        self.t0 = self.inj.t0

    def unix(self, t: float | None) -> float | None:
        return None if t is None else round(t + self.clock_offset, 6)

    def record(self) -> dict:
        ex, inj = self.ex, self.inj
        rec = {
            "ts": self.unix(self.t0), "request_id": ex.request_id, "conn": ex.conn_id,
            "stream_id": ex.stream_id, "client": f"{ex.client[0]}:{ex.client[1]}",
            "protocol": ex.protocol, "method": ex.method, "path": ex.target,
            "headers": redact_headers(ex.headers), "body_bytes": inj.body_bytes, "body_sha256": self.body_digest,
            "attempt": self.attempt[0] if self.attempt else None,
            "attempt_source": self.attempt[1] if self.attempt else None,
            "status": inj.status, "error_type": inj.error_type, "served": self.served,
            "events": inj.events, "pings": inj.pings, "bytes_sent": inj.bytes_sent,
            "injected": inj.injected, "actions": inj.fired, "not_applicable": inj.not_applicable,
            "outcome": self.outcome, "stream": self.stream_json, "plan_source": self.plan_source,
            "timings": {"received": self.unix(self.t0), "body_received": self.unix(inj.t_body),
                        "headers_sent": self.unix(inj.t_headers),
                        "finished": self.unix(trio.current_time())},
        }
        if self.error:
            rec["error"] = self.error
        return rec


async def handle(ex: Exchange, state: OriginState) -> None:
    """Serve one exchange to the end and log it. Never raises except trio.Cancelled."""
    ex.request_id = random_id("req_011", 21)
    req = Request(ex, state)
    try:
        await _route(req)
    except Terminated:
        req.outcome = "injected"
    except (ClientGone, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        req.outcome = "client_closed"
    except trio.Cancelled:
        # The connection ended under this stream - unless the whole response was already
        # in the kernel (an h2 client that read END_STREAM may close before we log).
        req.outcome = "completed" if ex.response_delivered() else "connection_closed"
        raise
    except Exception as exc:
        req.outcome = "server_error"
        req.error = repr(exc)
        traceback.print_exc(file=sys.stderr)
        ex.tcp_rst()  # a half-written response must not look like a clean one
    finally:
        state.log.write(req.record())


async def _route(req: Request) -> None:
    ex = req.ex
    if ex.method == "POST" and req.path == "/v1/messages":
        await _messages(req)
        return
    body = await _read_body_or_413(req)
    if body is None:
        return
    if ex.method == "HEAD" and req.path == "/":
        req.served = "head"
        await req.inj.send_headers(200, [*common_headers(ex.request_id),
                                         ("content-type", "application/json")])
        await req.inj.end()
    elif ex.method == "POST" and req.path == "/v1/messages/count_tokens":
        if await _check_auth_and_json(req, body) is not None:
            req.served = "count_tokens"
            await _send_json(req, {"input_tokens": estimate_input_tokens(len(body))})
    else:
        req.served = "error"
        await send_error(req.inj, 404, "not_found_error", f"{ex.method} {req.path}: not found")


async def _read_body_or_413(req: Request) -> bytes | None:
    try:
        return await _read_body(req)
    except TooLarge:
        req.served = "error"
        await send_error(req.inj, 413, "request_too_large")
        return None


async def _read_body(req: Request) -> bytes:
    """Read the whole request body, giving the plan a checkpoint after every chunk."""
    ex, inj, limit = req.ex, req.inj, req.state.config.max_body_bytes
    length = ex.header("content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise TooLarge()
    chunks: list[bytes] = []
    while True:
        chunk = await ex.receive_body(inj.next_deadline())
        if chunk is None:  # a time-based rule came due while the upload is slow
            await inj.checkpoint()
            continue
        if not chunk:
            break
        inj.body_bytes += len(chunk)
        inj.touch()
        if inj.body_bytes > limit:
            raise TooLarge()
        chunks.append(chunk)
        await inj.checkpoint()
    inj.t_body = trio.current_time()
    body = b"".join(chunks)
    req.body_digest = hashlib.sha256(body).hexdigest()[:16]
    return body


async def _check_auth_and_json(req: Request, body: bytes) -> dict | None:
    """401/400 as the API would; returns the decoded body, or None once an error was sent."""
    ex = req.ex
    bearer = (ex.header("authorization") or "").startswith("Bearer ")
    if req.state.config.require_api_key and not (ex.header("x-api-key") or bearer):
        req.served = "error"
        await send_error(req.inj, 401, "authentication_error", "x-api-key header is required")
        return None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        req.served = "error"
        await send_error(req.inj, 400, "invalid_request_error", f"invalid JSON in request body: {exc}")
        return None
    if not isinstance(data, dict):
        req.served = "error"
        await send_error(req.inj, 400, "invalid_request_error", "request body must be a JSON object")
        return None
    return data


async def _send_json(req: Request, obj: dict) -> None:
    inj = req.inj
    payload = json.dumps(obj).encode()
    await inj.send_headers(200, [*common_headers(req.ex.request_id),
                                 ("content-type", "application/json"),
                                 ("content-length", str(len(payload)))])
    await inj.checkpoint()
    for pos in range(0, len(payload), BODY_CHUNK):
        await inj.send(payload[pos:pos + BODY_CHUNK])
        await inj.checkpoint()
    await inj.end()


async def _messages(req: Request) -> None:
    ex, state = req.ex, req.state
    plan, spec = state.plan, state.stream
    req.plan_source = "server" if plan else None
    try:
        raw_plan = ex.header("x-resetlab-plan")
        if raw_plan is not None:
            plan, req.plan_source = parse_plan(raw_plan, "x-resetlab-plan"), "header"
        raw_stream = ex.header("x-resetlab-stream")
        if raw_stream is not None:
            spec = parse_stream_spec(raw_stream, spec, "x-resetlab-stream")
    except SpecError as exc:
        req.served = "error"
        await send_error(req.inj, 400, "invalid_request_error", str(exc))
        return
    req.stream_json = spec.to_json()
    inj = req.inj = Injector(plan, ex, ping_interval=spec.ping_interval, t0=req.t0)
    req.attempt = from_headers(ex.header)
    inj.attempt = req.attempt[0] if req.attempt else None

    length = ex.header("content-length")
    if length is not None and length.strip().isdigit() and int(length) > state.config.max_body_bytes:
        req.served = "error"  # Cloudflare answers 413 before anything reaches the origin
        await send_error(inj, 413, "request_too_large")
        return
    await inj.checkpoint()
    inj.phase = "request_body"
    body = await _read_body_or_413(req)
    if body is None:
        return
    if req.attempt is None:
        n = state.attempts.next(ex.client[0], req.path, body)
        req.attempt = (n, state.attempts.source)
        inj.attempt = n
    inj.phase = "before_response_headers"
    async with ex.abort_on_client_close():
        await inj.checkpoint()  # before_response_headers, whatever the status will be
        data = await _check_auth_and_json(req, body)
        if data is None:
            return
        inj.streaming = data.get("stream") is True
        model = data.get("model") if isinstance(data.get("model"), str) else "claude-resetlab"
        if ex.header("x-resetlab-stream") is None:  # lab probes script their stream; others ask max_tokens
            spec = spec.for_max_tokens(data.get("max_tokens"))
            req.stream_json = spec.to_json()
        msg = build_message(spec, model, estimate_input_tokens(len(body)))
        script = stream_script(msg)
        if inj.streaming:
            req.served = "stream"
            await _serve_stream(req, spec, script, len(body))
        else:
            req.served = "message"
            await inj.wait(spec.time_to_headers(len(body)) + spec.total_time(len(script)))
            await inj.checkpoint()
            await _send_json(req, msg.body)


async def _serve_stream(req: Request, spec, script: list[tuple[str, dict]], body_bytes: int) -> None:
    inj = req.inj
    await inj.wait(spec.time_to_headers(body_bytes))
    await inj.checkpoint()
    await inj.send_headers(200, [*common_headers(req.ex.request_id),
                                 ("content-type", "text/event-stream"),
                                 ("cache-control", "no-cache")])
    await inj.checkpoint()
    # Events keep to a schedule anchored at the headers, so per-event scheduling latency does
    # not add up over a long stream (120 relative sleeps drifted ~70 ms). Held up for longer
    # than DRIFT (a stall action, a blocked write), the schedule restarts from now: a stalled
    # upstream resumes at its pace, it does not burst to catch up.
    due = trio.current_time()
    for i, (name, data) in enumerate(script):
        now = trio.current_time()
        due = (due if now - due <= DRIFT else now) + spec.gap_before(i, len(script))
        # No ping may precede message_start, so pings only from the second event on.
        await inj.wait(due - now, pings=i > 0)
        await inj.send_event(name, data)
    await inj.end()
