"""The built-in edge: a trio reverse proxy that enforces an EdgePolicy exactly.

It reuses the origin's server (listener, HTTP/1.1 and h2c drivers, Exchange fault
primitives) with a relay as the exchange handler, so "reset the stream when the
upstream has been silent for 100 s" is the same RST / FIN / RST_STREAM / GOAWAY the
origin's fault plans use. Upstream it speaks HTTP/1.1 (h11), one connection per request.

Limits (all from the policy, all optional):
- max_body_bytes: 413 request_too_large (Cloudflare's answer) before anything goes upstream
- first_byte_timeout: request forwarded -> response headers from upstream
- idle_timeout: silence from upstream between response bytes
- max_stream_duration: wall clock from the request's arrival
- send_stall_timeout: the client accepts no bytes for this long (a flow-control stall)
- client_idle_timeout: an idle keep-alive client connection is closed (FIN / GOAWAY)
When one trips the edge does `on_limit`. `status` can only be an HTTP status before the
response headers went out; after that it falls back to FIN (HTTP/1.1) or RST_STREAM (h2).
An upstream that resets or closes mid-response is mirrored to the client the same way.

Every request is logged (JSONL, like the origin's log) with the limit that tripped and
what the edge did, so tests and worlds can check the edge from its own record.
"""

from __future__ import annotations

import json
import math
import socket

import h11
import trio

from harness.http.exchange import ClientGone, Exchange
from harness.origin.config import OriginConfig
from harness.origin.reqlog import redact_headers
from harness.origin.server import serve_origin

from .policy import EdgePolicy

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
              "trailer", "host", "content-length", "expect"}
UNLIMITED_BODY = 1 << 40


class Trip(Exception):
    """A policy limit tripped: `limit` names it."""

    def __init__(self, limit: str):
        super().__init__(limit)
        self.limit = limit


class UpstreamBroke(Exception):
    def __init__(self, how: str):  # "reset" | "fin"
        super().__init__(how)
        self.how = how


def edge_config(policy: EdgePolicy, host: str, port: int, log_path: str | None) -> OriginConfig:
    # The built-in edge speaks HTTP/1.1 and h2c (prior knowledge) on one port, as a CDN
    # does with ALPN, so a world can vary the client's protocol; client_protocol names the
    # protocol nginx / haproxy listen with (they cannot serve both in cleartext).
    return OriginConfig(host=host, port=port, tls=False, h2c=True, plan=(),
                        log_path=log_path, max_body_bytes=UNLIMITED_BODY, require_api_key=False,
                        keepalive_idle_timeout=policy.client_idle_timeout)


async def serve_edge(policy: EdgePolicy, listen: tuple[str, int], upstream: tuple[str, int],
                     log_path: str | None = None, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run the edge until cancelled; `await nursery.start(serve_edge, ...)` -> OriginInfo."""
    relay = Relay(policy, upstream)
    await serve_origin(edge_config(policy, *listen, log_path), handler=relay.handle,
                       task_status=task_status)


def edge_thread(policy: EdgePolicy, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0,
                log_path: str | None = None):
    """The built-in edge on its own trio loop in a thread (for synchronous code)."""
    from harness.origin.runners import OriginThread

    return OriginThread(edge_config(policy, host, port, log_path), handler=Relay(policy, upstream).handle)


class Upstream:
    """One HTTP/1.1 request to the upstream over a fresh TCP connection (h11, sans-IO)."""

    def __init__(self, stream: trio.SocketStream):
        self.stream = stream
        self.h = h11.Connection(h11.CLIENT)

    @classmethod
    async def connect(cls, addr: tuple[str, int]) -> Upstream:
        stream = await trio.open_tcp_stream(*addr)
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(stream)

    async def send(self, event) -> None:
        try:
            await self.stream.send_all(self.h.send(event))
        except (trio.BrokenResourceError, OSError) as e:
            raise UpstreamBroke("reset") from e

    async def next_event(self, deadline: float):
        """The next h11 event; None at the deadline."""
        while True:
            try:
                event = self.h.next_event()
            except h11.RemoteProtocolError as e:  # EOF in the middle of the response
                raise UpstreamBroke("fin") from e
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.ConnectionClosed):
                    raise UpstreamBroke("fin")
                return event
            with trio.move_on_at(deadline):
                try:
                    data = await self.stream.receive_some(65536)
                except (trio.BrokenResourceError, OSError) as e:
                    raise UpstreamBroke("reset") from e
                self.h.receive_data(data)
                continue
            return None

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self.stream.aclose()


class Relay:
    def __init__(self, policy: EdgePolicy, upstream: tuple[str, int]):
        self.policy, self.upstream = policy, upstream

    async def handle(self, ex: Exchange, state) -> None:
        rec = Record(ex)
        try:
            # the body first: the close watcher reads the socket too, so it may only start
            # once the request is in (as in the origin)
            wall = trio.current_time() + self.policy.max_stream_duration \
                if self.policy.max_stream_duration else math.inf
            body = await self._read_body(ex, rec, wall)
            if body is None:
                return
            async with ex.abort_on_client_close():
                await self._relay(ex, rec, body, wall)
        except Trip as trip:
            rec.limit = trip.limit
            await self._act(ex, rec, self._action_for(ex))
        except UpstreamBroke as broke:
            rec.upstream_error = broke.how
            await self._act(ex, rec, self._mirror(ex, broke.how))
        except (ClientGone, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            rec.outcome = "client_closed"
        finally:
            rec.finish()
            state.log.write(rec.data)

    # -- the relay ------------------------------------------------------------------------

    async def _relay(self, ex: Exchange, rec: Record, body: bytes, wall: float) -> None:
        p = self.policy

        def limit_at(deadline: float, name: str) -> tuple[float, str]:
            return (deadline, name) if deadline < wall else (wall, "max_stream_duration")

        async def until(op) -> None:
            # a response write the client does not take: stall limit, or the wall clock
            stall = trio.current_time() + p.send_stall_timeout if p.send_stall_timeout else math.inf
            deadline, name = limit_at(stall, "send_stall")
            if not await op(deadline):
                raise Trip(name)

        up = await Upstream.connect(self.upstream)
        try:
            headers = [(k, v) for k, v in ex.headers if k not in HOP_BY_HOP and not k.startswith(":")]
            host = f"{self.upstream[0]}:{self.upstream[1]}"
            await up.send(h11.Request(method=ex.method, target=ex.target, headers=[
                ("host", host), *headers, ("content-length", str(len(body)))]))
            await up.send(h11.Data(data=body))
            await up.send(h11.EndOfMessage())
            rec.t("forwarded")
            fb = trio.current_time() + p.first_byte_timeout if p.first_byte_timeout else math.inf
            deadline, name = limit_at(fb, "first_byte")
            event = await up.next_event(deadline)
            while isinstance(event, h11.InformationalResponse):
                event = await up.next_event(deadline)
            if event is None:
                raise Trip(name)
            rec.status = event.status_code
            out = [(k.decode().lower(), v.decode("latin-1")) for k, v in event.headers]
            rec.request_id = dict(out).get("request-id")
            await ex.send_headers(event.status_code, [(k, v) for k, v in out if k not in HOP_BY_HOP], until)
            rec.t("headers_sent")
            while True:
                idle = trio.current_time() + p.idle_timeout if p.idle_timeout else math.inf
                deadline, name = limit_at(idle, "idle")
                event = await up.next_event(deadline)
                if event is None:
                    raise Trip(name)
                if isinstance(event, h11.Data):
                    rec.bytes_relayed += len(event.data)
                    await ex.send_data(bytes(event.data), until)
                elif isinstance(event, h11.EndOfMessage):
                    await ex.end(until)
                    rec.outcome = "completed"
                    return
        finally:
            await up.aclose()

    async def _read_body(self, ex: Exchange, rec: Record, wall: float) -> bytes | None:
        limit = self.policy.max_body_bytes
        declared = ex.header("content-length")
        if limit is not None and declared and declared.isdigit() and int(declared) > limit:
            rec.limit = "max_body"
            await self._send_error(ex, 413, "request_too_large", "Request exceeds the maximum allowed size")
            return None
        chunks, size = [], 0
        while True:
            chunk = await ex.receive_body(wall)
            if chunk is None:
                raise Trip("max_stream_duration")
            if not chunk:
                break
            size += len(chunk)
            if limit is not None and size > limit:
                rec.limit = "max_body"
                await self._send_error(ex, 413, "request_too_large", "Request exceeds the maximum allowed size")
                return None
            chunks.append(chunk)
        rec.body_bytes = size
        rec.t("body_received")
        return b"".join(chunks)

    # -- what the edge does when something goes wrong ----------------------------------------

    def _action_for(self, ex: Exchange) -> str:
        action = self.policy.on_limit
        h2 = ex.stream_id is not None
        if action == "status" and ex.headers_sent:
            return "rst_stream" if h2 else "fin"
        if action in ("rst_stream", "goaway") and not h2:
            return "rst"  # HTTP/1.1 has no streams: the connection is the stream
        return action

    @staticmethod
    def _mirror(ex: Exchange, how: str) -> str:
        if ex.stream_id is not None:  # h2 to the client: the stream dies, the connection lives
            return "rst_stream"
        return "rst" if how == "reset" else "fin"

    async def _act(self, ex: Exchange, rec: Record, action: str) -> None:
        rec.action = action
        rec.outcome = "tripped" if rec.limit else "upstream_error"
        try:
            if action == "rst":
                ex.tcp_rst()
            elif action == "fin":
                await ex.fin()
            elif action == "rst_stream":
                await ex.h2_rst_stream(self.policy.h2_error_code)
            elif action == "goaway":
                await ex.h2_goaway(self.policy.h2_error_code, None)
            elif action == "status":
                await self._send_error(ex, self.policy.status, "timeout_error",
                                       f"edge limit {rec.limit} exceeded")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    async def _send_error(self, ex: Exchange, status: int, etype: str, message: str) -> None:
        body = json.dumps({"type": "error", "error": {"type": etype, "message": message}}).encode()

        async def until(op) -> None:
            await op(trio.current_time() + 5.0)

        await ex.send_headers(status, [("content-type", "application/json"),
                                       ("content-length", str(len(body))), ("server", "resetlab-edge")],
                              until)
        await ex.send_data(body, until)
        await ex.end(until)


class Record:
    """The edge's log line for one request."""

    def __init__(self, ex: Exchange):
        self.t0 = trio.current_time()
        self.data = {"edge": "builtin", "protocol": ex.protocol, "method": ex.method, "path": ex.target,
                     "conn": ex.conn_id, "stream_id": ex.stream_id, "headers": redact_headers(ex.headers)}
        self.limit: str | None = None
        self.action: str | None = None
        self.upstream_error: str | None = None
        self.status: int | None = None
        self.request_id: str | None = None
        self.body_bytes = 0
        self.bytes_relayed = 0
        self.outcome = "incomplete"
        self.timings: dict[str, float] = {}

    def t(self, name: str) -> None:
        self.timings[name] = round(trio.current_time() - self.t0, 6)

    def finish(self) -> None:
        self.t("finished")
        self.data.update(limit=self.limit, action=self.action, upstream_error=self.upstream_error,
                         status=self.status, request_id=self.request_id, body_bytes=self.body_bytes,
                         bytes_relayed=self.bytes_relayed, outcome=self.outcome, timings=self.timings)
