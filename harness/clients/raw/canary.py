"""The canary: a second, idle connection beside the probe, checked at the end."""

from __future__ import annotations

import ssl
from typing import Any

import h2.connection
import h2.exceptions
import h11
import trio

from harness.http.observe import Seen, seen_h1, seen_h2

from ..conn import Conn, Deadline
from ..probe import Probe
from .h2 import _h2_connection
from .target import RESET_ERRNOS, USER_AGENT, Target, _configure


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
