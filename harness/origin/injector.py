"""The fault injector: runs one request's fault plan against its Exchange.

The API code produces the response *through* the injector (``send_headers``,
``send_event``, ``send``, ``wait``); the injector keeps the progress counters that plan
conditions read, and calls ``checkpoint()`` at every point where a fault may fire:
after each request-body chunk, before the response headers, after each event, at an
``after_bytes`` offset inside an event, and whenever a time condition comes due while
the exchange waits (a gap, a stall, flow control, a slow upload).

Send accounting: ``events`` counts scripted SSE events (keep-alive pings excluded),
``bytes_sent`` counts response-body bytes handed to the kernel (pings included, HTTP
framing excluded), ``last_activity`` is the last time a byte moved either way.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from harness.http.exchange import Exchange, Op

from .plan import Plan, Rule
from .sse import PING, encode_event


class Injector:
    def __init__(self, plan: Plan, ex: Exchange, *, ping_interval: float | None = None,
                 t0: float | None = None):
        self.plan = plan
        self.ex = ex
        self.ping_interval = ping_interval
        self.phase = "request_headers"
        self.t0 = trio.current_time() if t0 is None else t0  # request headers arrived
        self.last_activity = self.t0
        self.last_send = self.t0
        self.events = 0
        self.pings = 0
        self.bytes_sent = 0
        self.body_bytes = 0
        self.streaming: bool | None = None
        self.attempt: int | None = None  # unknown until attempts.py decides
        self.drip_rate: float | None = None
        self.at_boundary = True  # False while an SSE event is half sent
        self.status: int | None = None
        self.error_type: str | None = None
        self.t_body: float | None = None  # request body complete
        self.t_headers: float | None = None  # response headers sent
        self.fired: list[dict] = []
        self.not_applicable: list[str] = []
        self._done: set[int] = set()
        self._next_drip = -math.inf

    # --- rule evaluation ----------------------------------------------------------------
    def _candidates(self) -> list[Rule]:
        out = []
        for rule in self.plan:
            if rule.index in self._done:
                continue
            if rule.attempts is not None and self.attempt not in rule.attempts:
                continue
            if rule.action.sends and not self.at_boundary:
                continue  # never split an SSE event with another write; fire at the boundary
            out.append(rule)
        return out

    def _spent(self) -> bool:
        """No rule left that could fire (an empty plan, or every rule fired): fast paths."""
        return len(self._done) >= len(self.plan)

    def next_deadline(self) -> float:
        """When the next time-based rule could fire (inf if none)."""
        if self._spent():
            return math.inf
        now = trio.current_time()
        times = [r.when.ready_at(self) for r in self._candidates()]
        future = [t for t in times if t > now]
        return min(future, default=math.inf)

    async def checkpoint(self) -> None:
        if self._spent():
            return
        now = trio.current_time()
        for rule in self._candidates():
            if rule.index in self._done or rule.when.ready_at(self) > now:
                continue
            if not rule.action.applies(self):
                name = f"rule {rule.index}: {rule.action.name}"
                if name not in self.not_applicable:
                    self.not_applicable.append(name)
                continue
            self._done.add(rule.index)
            self.fired.append({
                "rule": rule.index, "action": rule.action.name, "params": rule.action.params,
                "phase": self.phase, "events": self.events, "bytes": self.bytes_sent,
                "seconds": round(now - self.t0, 6),
            })
            await rule.action.run(self)  # terminal actions raise Terminated
            now = trio.current_time()

    @property
    def injected(self) -> str | None:
        return self.fired[-1]["action"] if self.fired else None

    # --- waiting --------------------------------------------------------------------------
    async def until(self, op: Op) -> None:
        """Retry a blocking exchange operation, firing time-based rules while it is blocked."""
        while not await op(self.next_deadline()):
            await self.checkpoint()

    async def wait(self, seconds: float, *, pings: bool = False) -> None:
        """Stay silent for `seconds` (inf = until something ends the exchange).

        With ``pings`` (between SSE events) a ping goes out after every
        ``ping_interval`` seconds without a response byte, as the API does.
        """
        end = trio.current_time() + max(0.0, seconds)
        while True:
            now = trio.current_time()
            due = math.inf
            if pings and self.ping_interval:
                due = self.last_send + self.ping_interval
                if due <= now:
                    self.pings += 1
                    await self._write(PING)
                    await self.checkpoint()
                    continue
            if now >= end:
                return
            await trio.sleep_until(min(end, due, self.next_deadline()))
            await self.checkpoint()

    def restart_ping_timer(self) -> None:
        self.last_send = trio.current_time()

    # --- sending ----------------------------------------------------------------------------
    def touch(self) -> None:
        self.last_activity = trio.current_time()

    async def send_headers(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        await self.ex.send_headers(status, headers, self.until)
        self.touch()
        self.t_headers = self.last_activity
        self.phase = "stream"

    async def send_event(self, name: str, data: dict[str, Any], *, scripted: bool = True) -> None:
        await self.send(encode_event(name, data))
        if scripted:
            self.events += 1
        await self.checkpoint()

    async def send(self, payload: bytes) -> None:
        """Send response-body bytes, cutting them at after_bytes offsets and drip pacing."""
        await trio.lowlevel.checkpoint_if_cancelled()  # writes themselves may not block
        pos = 0
        self.at_boundary = False
        try:
            while pos < len(payload):
                n = min(len(payload) - pos, self._bytes_to_next_threshold())
                if self.drip_rate:
                    n = min(n, max(1, int(self.drip_rate / 20)))  # ~20 writes per second
                    await self.wait(self._next_drip - trio.current_time())
                await self._write(payload[pos:pos + n])
                pos += n
                if self.drip_rate:
                    self._next_drip = trio.current_time() + n / self.drip_rate
                if pos < len(payload):
                    await self.checkpoint()
        finally:
            self.at_boundary = True

    def _bytes_to_next_threshold(self) -> int:
        if self._spent():
            return 1 << 62
        ahead = [r.when.after_bytes - self.bytes_sent for r in self._candidates()
                 if r.when.after_bytes is not None and r.when.after_bytes > self.bytes_sent]
        return min(ahead, default=1 << 62)

    async def _write(self, chunk: bytes) -> None:
        await self.ex.send_data(chunk, self.until)
        self.bytes_sent += len(chunk)
        self.last_send = self.last_activity = trio.current_time()

    async def end(self) -> None:
        await self.ex.end(self.until)
        self.touch()
