"""HTTP/2 (h2 over TLS, or h2c with prior knowledge) driving an h2.H2Connection by hand.

One reader loop feeds received bytes to the protocol object and dispatches its events;
each request stream runs ``api.handle`` in its own task. Every write goes through
``flush()`` -> Transport.queue, so frames from all streams leave in protocol order.
The reader never waits for the socket to drain, so a client that stops reading cannot
keep us from seeing its WINDOW_UPDATE / RST_STREAM / GOAWAY frames.
"""

from __future__ import annotations

import math
import sys
import traceback
from collections import deque
from contextlib import asynccontextmanager

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import trio
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from .exchange import ClientGone, Exchange, Until
from .transport import Transport

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}


class H2Connection:
    def __init__(self, transport: Transport, state, conn_id: int, client: tuple[str, int],
                 protocol: str):
        self.t = transport
        self.state = state
        self.conn_id = conn_id
        self.client = client
        self.protocol = protocol  # "h2" (TLS + ALPN) or "h2c" (prior knowledge)
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h = h2.connection.H2Connection(config=config)
        self.streams: dict[int, H2Exchange] = {}
        self.closing: str | None = None  # rst | fin | goaway | close
        self.reader_scope = trio.CancelScope()
        self._window = trio.Event()
        self._nursery: trio.Nursery | None = None

    def flush(self) -> int:
        return self.t.queue(self.h.data_to_send())

    def window_event(self) -> trio.Event:
        return self._window

    def _window_changed(self) -> None:
        self._window.set()
        self._window = trio.Event()

    async def run(self, initial: bytes) -> None:
        self.h.initiate_connection()
        self.h.update_settings({
            SettingCodes.MAX_CONCURRENT_STREAMS: self.state.config.h2_max_concurrent_streams})
        self.flush()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            with self.reader_scope:
                if initial:
                    self._feed(initial)
                idle = self.state.config.keepalive_idle_timeout
                while self.closing is None:
                    data = await self.t.recv(math.inf if idle is None else trio.current_time() + idle)
                    if data is None:  # nothing from the client for `idle` seconds
                        if not self.streams:
                            # an idle connection is closed: GOAWAY(NO_ERROR), then FIN
                            self.h.close_connection(ErrorCodes.NO_ERROR)
                            self.flush()
                            self.closing = "close"
                        continue
                    if not data:
                        break
                    self._feed(data)
            nursery.cancel_scope.cancel()  # streams cannot outlive their connection
        if self.closing is None:
            self.closing = "close"

    def _feed(self, data: bytes) -> None:
        try:
            events = self.h.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()  # h2 queued a GOAWAY for the peer's protocol error
            self.closing = "close"
            return
        for event in events:
            self._dispatch(event)
        self.flush()

    def _dispatch(self, event) -> None:
        ex = self.streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.RequestReceived):
            ex = H2Exchange(self, event.stream_id, event.headers)
            self.streams[event.stream_id] = ex
            self._nursery.start_soon(self._run_stream, ex)
        elif isinstance(event, h2.events.DataReceived):
            # Credit the window at once: the origin is never the slow side of an upload.
            try:
                self.h.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            except h2.exceptions.H2Error:
                pass
            if ex is not None:
                ex.body_chunks.append(event.data)
                ex.notify()
        elif isinstance(event, h2.events.StreamEnded) and ex is not None:
            ex.body_ended = True
            ex.notify()
        elif isinstance(event, h2.events.StreamReset) and ex is not None:
            ex.reset_by_client()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window_changed()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closing = "close"

    async def _run_stream(self, ex: H2Exchange) -> None:
        try:
            with ex.scope:
                await self.state.handler(ex, self.state)
        except Exception:  # a bug must not take the other streams down
            traceback.print_exc(file=sys.stderr)
        finally:
            self.streams.pop(ex.stream_id, None)
            if not ex.ended and self.closing is None and not self.t.closed:
                try:
                    self.h.reset_stream(ex.stream_id, ErrorCodes.CANCEL)
                    self.flush()
                except h2.exceptions.H2Error:
                    pass

    def stop_reading(self, closing: str) -> None:
        self.closing = closing
        self.reader_scope.cancel()


class H2Exchange(Exchange):
    def __init__(self, conn: H2Connection, stream_id: int, headers: list[tuple[str, str]]):
        self.c = conn
        self.protocol = conn.protocol
        self.stream_id = stream_id
        self.conn_id = conn.conn_id
        self.client = conn.client
        pseudo = {k: v for k, v in headers if k.startswith(":")}
        self.method = pseudo.get(":method", "")
        self.target = pseudo.get(":path", "")
        self.headers = [(k.lower(), v) for k, v in headers if not k.startswith(":")]
        if ":authority" in pseudo:
            self.headers.insert(0, ("host", pseudo[":authority"]))
        self.scope = trio.CancelScope()
        self.body_chunks: deque[bytes] = deque()
        self.body_ended = False
        self.ended = False  # our side of the stream is closed
        self._reset = False
        self._end_mark: int | None = None  # transport mark of the END_STREAM frame
        self._event = trio.Event()
        self._client_scope: trio.CancelScope | None = None

    def notify(self) -> None:
        self._event.set()
        self._event = trio.Event()

    def reset_by_client(self) -> None:
        self._reset = True
        self.ended = True
        self.notify()
        if self._client_scope is not None:
            self._client_scope.cancel()

    def _call(self, fn, *args, **kwargs):
        """Run an h2 method; a stream the client already closed means ClientGone."""
        try:
            return fn(*args, **kwargs)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            raise ClientGone() from None

    async def receive_body(self, deadline: float) -> bytes | None:
        while True:
            if self._reset or self.c.t.closed:
                raise ClientGone()
            if self.body_chunks:
                return self.body_chunks.popleft()
            if self.body_ended:
                self.body_complete = True
                return b""
            event = self._event
            with trio.move_on_at(deadline):
                await event.wait()
                continue
            return None

    async def _flush(self, until: Until) -> None:
        mark = self.c.flush()
        await until(lambda deadline: self.c.t.wait_sent(mark, deadline))

    async def send_headers(self, status: int, headers: list[tuple[str, str]], until: Until) -> None:
        fields = [(":status", str(status))] + [(k, v) for k, v in headers if k not in HOP_BY_HOP]
        self._call(self.c.h.send_headers, self.stream_id, fields)
        self.headers_sent = True
        await self._flush(until)

    async def send_data(self, data: bytes, until: Until) -> None:
        view = memoryview(data)
        while view:
            window = self._call(self.c.h.local_flow_control_window, self.stream_id)
            n = min(len(view), window, self.c.h.max_outbound_frame_size)
            if n <= 0:
                await until(self._wait_window)  # the client's flow-control window is shut
                continue
            self._call(self.c.h.send_data, self.stream_id, bytes(view[:n]))
            view = view[n:]
            await self._flush(until)

    async def _wait_window(self, deadline: float) -> bool:
        event = self.c.window_event()
        if self._call(self.c.h.local_flow_control_window, self.stream_id) > 0:
            return True
        with trio.move_on_at(deadline):
            await event.wait()
            return True
        return False

    async def end(self, until: Until) -> None:
        self._call(self.c.h.end_stream, self.stream_id)
        self.ended = True
        if not self.body_ended:
            # Answered before the upload finished (e.g. 413): tell the client to stop.
            self._call(self.c.h.reset_stream, self.stream_id, ErrorCodes.NO_ERROR)
        self._end_mark = self.c.flush()
        await until(lambda deadline: self.c.t.wait_sent(self._end_mark, deadline))

    def response_delivered(self) -> bool:
        return self._end_mark is not None and self.c.t.sent_total >= self._end_mark

    @asynccontextmanager
    async def abort_on_client_close(self):
        with trio.CancelScope() as scope:
            self._client_scope = scope
            if self._reset:
                scope.cancel()
            try:
                yield
            finally:
                self._client_scope = None
        if scope.cancelled_caught:
            raise ClientGone()

    # --- fault primitives ---------------------------------------------------------------
    def tcp_rst(self) -> None:
        self.c.closing = "rst"
        self.c.t.reset()

    # Connection-level faults stop the reader only after their frames are flushed: the
    # reader's exit cancels every stream, this one included.
    async def fin(self) -> None:
        await self.c.t.shutdown_write()
        self.c.stop_reading("fin")

    async def h2_rst_stream(self, code: int) -> None:
        self._call(self.c.h.reset_stream, self.stream_id, code)
        self.ended = True
        await self.c.t.wait_sent(self.c.flush(), trio.current_time() + 2.0)

    async def h2_goaway(self, code: int, last_stream_id: int | None) -> None:
        # Default last_stream_id = highest stream the client opened (h2's default).
        self.c.h.close_connection(error_code=code, last_stream_id=last_stream_id)
        self.ended = True
        await self.c.t.wait_sent(self.c.flush(), trio.current_time() + 2.0)
        self.c.stop_reading("goaway")

