"""HTTP/1.1 over a Transport, driving an h11.Connection (sans-IO) by hand."""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from http import HTTPStatus

import h11
import trio

from .exchange import ClientGone, Exchange, Until
from .transport import Transport

MAX_HEAD = 1 << 20  # fault plans travel in a header; allow big ones


class H1Connection:
    protocol = "http/1.1"

    def __init__(self, transport: Transport, state, nursery: trio.Nursery, conn_id: int,
                 client: tuple[str, int]):
        self.t = transport
        self.state = state
        self.nursery = nursery  # connection-scoped tasks (the client-close watcher)
        self.conn_id = conn_id
        self.client = client
        self.h = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.closing: str | None = None  # rst | fin | close: how the connection ends

    async def run(self, initial: bytes) -> None:
        if initial:
            self.h.receive_data(initial)
        try:
            while self.closing is None:
                event = await self.next_event(self._idle_deadline())
                if event is None:
                    break  # idle keep-alive connection: close it (FIN), as edges do
                if not isinstance(event, h11.Request):
                    break  # ConnectionClosed: the client went away between requests
                await self.state.handler(H1Exchange(self, event), self.state)
                if self.closing is not None:
                    break
                if self.h.our_state is h11.DONE and self.h.their_state is h11.DONE:
                    self.h.start_next_cycle()  # keep-alive
                else:
                    self.closing = "close"
        except h11.RemoteProtocolError as exc:
            await self._bad_request(exc)
        if self.closing is None:
            self.closing = "close"

    def _idle_deadline(self) -> float:
        idle = self.state.config.keepalive_idle_timeout
        return math.inf if idle is None else trio.current_time() + idle

    async def next_event(self, deadline: float = math.inf):
        """The next h11 event, reading as needed; None if the deadline passed first."""
        while True:
            event = self.h.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.t.recv(deadline)
            if data is None:
                return None
            self.h.receive_data(data)  # b"" tells h11 about EOF

    async def _bad_request(self, exc: h11.RemoteProtocolError) -> None:
        self.closing = "close"
        if self.h.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = b'{"type":"error","error":{"type":"invalid_request_error","message":"malformed HTTP request"}}'
        try:
            data = self.h.send(h11.Response(status_code=exc.error_status_hint, headers=[
                ("content-type", "application/json"), ("content-length", str(len(body))),
                ("connection", "close")]))
            data += self.h.send(h11.Data(data=body)) + self.h.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            return
        self.t.queue(data)


class H1Exchange(Exchange):
    def __init__(self, conn: H1Connection, req: h11.Request):
        self.c = conn
        self.protocol = conn.protocol
        self.method = req.method.decode("ascii", "replace")
        self.target = req.target.decode("latin-1")
        self.headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in req.headers]
        self.client = conn.client
        self.conn_id = conn.conn_id
        self._gone = False
        self._end_mark: int | None = None  # transport mark of the response's last byte

    async def receive_body(self, deadline: float) -> bytes | None:
        if self.c.h.they_are_waiting_for_100_continue and not self.headers_sent:
            # curl and some SDKs wait (about 1 s) for this before sending a large body.
            self.c.t.queue(self.c.h.send(h11.InformationalResponse(status_code=100, headers=[])))
        while not self.body_complete:
            try:
                event = await self.c.next_event(deadline)
            except h11.RemoteProtocolError:  # EOF or garbage in the middle of the body
                self.c.closing = "close"
                raise ClientGone() from None
            if event is None:
                return None
            if isinstance(event, h11.Data) and event.data:
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage):
                self.body_complete = True
            elif isinstance(event, h11.ConnectionClosed):
                raise ClientGone()
        return b""

    async def _send(self, event, until: Until) -> None:
        mark = self.c.t.queue(self.c.h.send(event))
        await until(lambda deadline: self.c.t.wait_sent(mark, deadline))

    async def send_headers(self, status: int, headers: list[tuple[str, str]], until: Until) -> None:
        headers = list(headers)
        if not self.body_complete:
            # We answer before reading the whole upload: the connection cannot be reused.
            headers.append(("connection", "close"))
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
        self.headers_sent = True
        await self._send(h11.Response(status_code=status, headers=headers, reason=reason), until)

    async def send_data(self, data: bytes, until: Until) -> None:
        if data:
            await self._send(h11.Data(data=data), until)

    async def end(self, until: Until) -> None:
        self._end_mark = self.c.t.queue(self.c.h.send(h11.EndOfMessage()))
        await until(lambda deadline: self.c.t.wait_sent(self._end_mark, deadline))

    def response_delivered(self) -> bool:
        """The whole response is in the kernel: a client close now is a normal goodbye."""
        return self._end_mark is not None and self.c.t.sent_total >= self._end_mark

    @asynccontextmanager
    async def abort_on_client_close(self):
        """Watch the socket while responding: EOF means the client gave up.

        The watcher runs in the connection nursery and must have stopped before the
        connection reads again (two readers on one socket is an error in trio).
        """
        done = trio.Event()
        watcher_scope = trio.CancelScope()
        with trio.CancelScope() as body_scope:
            self.c.nursery.start_soon(self._watch, body_scope, watcher_scope, done)
            try:
                yield
            finally:
                watcher_scope.cancel()
                with trio.CancelScope(shield=True):
                    await done.wait()
        if self._gone and body_scope.cancelled_caught and not self.response_delivered():
            raise ClientGone()

    async def _watch(self, body_scope: trio.CancelScope, scope: trio.CancelScope,
                     done: trio.Event) -> None:
        try:
            with scope:
                buffered = 0
                while buffered < MAX_HEAD:
                    data = await self.c.t.recv()
                    if not data:
                        if self.c.closing is None:  # not our own RST/FIN
                            self._gone = True
                            self.c.closing = "close"
                            body_scope.cancel()
                        return
                    buffered += len(data)
                    self.c.h.receive_data(data)  # a pipelined next request: keep it
                await trio.sleep_forever()
        finally:
            done.set()

    # --- fault primitives ---------------------------------------------------------------
    def tcp_rst(self) -> None:
        self.c.closing = "rst"
        self.c.t.reset()

    async def fin(self) -> None:
        self.c.closing = "fin"
        await self.c.t.shutdown_write()
