"""Outage schedules on a link: down windows and blackhole windows, on a trio timeline.

- down: both ends of the link go administratively down (carrier lost, routes through it
  flushed by the kernel); on restore the ends come up and their routes are put back.
- blackhole: the link stays up but the router end silently drops everything crossing it
  (policy rules to a `blackhole` route, ahead of any delay-line rules), as an upstream
  failure that sends no ICMP would.
Both are plain netlink operations, so they work the same with either shaping backend.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import trio

from .errors import ConfigError, check_choice, check_range

if TYPE_CHECKING:
    from .topology import Topology

KINDS = ("down", "blackhole")
BLACKHOLE_TABLE = 900
BLACKHOLE_PRIORITY = 50


@dataclass(frozen=True)
class Window:
    start: float  # seconds after the schedule starts
    duration: float
    kind: str = "down"

    def __post_init__(self) -> None:
        check_range("Window.start", self.start, 0.0, 1e7, "seconds")
        check_range("Window.duration", self.duration, 0.0, 1e7, "seconds")
        check_choice("Window.kind", self.kind, KINDS)

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class OutageSchedule:
    link: str
    windows: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        ws = sorted(self.windows, key=lambda w: w.start)
        for prev, nxt in zip(ws, ws[1:], strict=False):
            if nxt.start < prev.end:
                raise ConfigError("OutageSchedule.windows", f"{prev} / {nxt}", "non-overlapping windows")
        object.__setattr__(self, "windows", tuple(ws))

    @classmethod
    def poisson(cls, link: str, rate_per_s: float, mean_duration: float, horizon: float,
                kind: str = "down", seed: int = 0) -> OutageSchedule:
        """Outages arriving as a Poisson process (exponential gaps and durations), seeded."""
        check_range("OutageSchedule.rate_per_s", rate_per_s, 0.0, 1e3, "per second")
        check_range("OutageSchedule.mean_duration", mean_duration, 0.0, 1e7, "seconds")
        rng = random.Random(seed)
        t, windows = 0.0, []
        while rate_per_s > 0:
            t += rng.expovariate(rate_per_s)
            if t >= horizon:
                break
            d = rng.expovariate(1 / mean_duration) if mean_duration else 0.0
            windows.append(Window(t, d, kind))
            t += d
        return cls(link, tuple(windows))

    def scaled(self, time_scale: float) -> OutageSchedule:
        return replace(self, windows=tuple(Window(w.start * time_scale, w.duration * time_scale, w.kind)
                                           for w in self.windows))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AppliedWindow:
    """What actually happened, on the monotonic clock (for timelines and verdicts)."""

    kind: str
    began: float
    ended: float | None = None


@dataclass
class OutageLog:
    link: str
    applied: list[AppliedWindow] = field(default_factory=list)


class LinkFault:
    """Applies and lifts one kind of fault on one link of a running topology."""

    def __init__(self, topo: Topology, link: str):
        from .shaping import forwarding_end

        self.topo, self.link = topo, link
        self.lk = topo.spec.link(link)
        self._router = None
        self._forwarding_end = forwarding_end

    def _blackhole_rules(self) -> tuple[str, list[dict]]:
        router = self._forwarding_end(self.topo.spec, self.link, "a blackhole outage")
        h = self.topo.hosts[router]
        rules = [{"priority": BLACKHOLE_PRIORITY, "iifname": h.ifname(self.link), "table": BLACKHOLE_TABLE}]
        for dest in self.topo.spec.behind(router, self.link):
            rules.append({"priority": BLACKHOLE_PRIORITY, "dst": str(dest.network_address),
                          "dst_len": dest.prefixlen, "table": BLACKHOLE_TABLE})
        return router, rules

    def check(self, kind: str) -> None:
        if kind == "blackhole":
            self._blackhole_rules()

    def begin(self, kind: str) -> None:
        if kind == "down":
            for end in (self.lk.a, self.lk.b):
                self.topo.hosts[end].set_link(self.link, up=False)
        else:
            router, rules = self._blackhole_rules()

            def add(ipr) -> None:
                ipr.route("replace", dst="0.0.0.0/0", table=BLACKHOLE_TABLE, type="blackhole")
                for r in rules:
                    ipr.rule("add", **r)

            self.topo.hosts[router].netlink(add)

    def end(self, kind: str) -> None:
        if kind == "down":
            for end in (self.lk.a, self.lk.b):
                self.topo.hosts[end].set_link(self.link, up=True)
            for end in (self.lk.a, self.lk.b):
                host = self.topo.hosts[end]
                host.wait_carrier(host.ifname(self.link))
            # the kernel flushed routes through the link when it went down: put them back
            for r in self.topo.spec.routes():
                if r.link == self.link:
                    self.topo.hosts[r.host].netlink(
                        lambda ipr, r=r: ipr.route("replace", dst=str(r.dest), gateway=str(r.via)))
        else:
            router, rules = self._blackhole_rules()
            self.topo.hosts[router].netlink(lambda ipr: [ipr.rule("del", **r) for r in rules])


async def run_schedule(topo: Topology, schedule: OutageSchedule, log: OutageLog | None = None,
                       *, task_status=trio.TASK_STATUS_IGNORED) -> OutageLog:
    """Apply each window at its time after start; always lift an active fault on cancel."""
    fault = LinkFault(topo, schedule.link)
    for kind in {w.kind for w in schedule.windows}:
        fault.check(kind)
    log = log or OutageLog(schedule.link)
    t0 = trio.current_time()
    task_status.started(log)
    for w in schedule.windows:
        await trio.sleep_until(t0 + w.start)
        fault.begin(w.kind)
        entry = AppliedWindow(w.kind, time.monotonic())
        log.applied.append(entry)
        try:
            await trio.sleep_until(t0 + w.end)
        finally:
            fault.end(w.kind)
            entry.ended = time.monotonic()
    return log


@contextlib.contextmanager
def running(topo: Topology, schedule: OutageSchedule) -> Iterator[OutageLog]:
    """Run a schedule in a background thread for synchronous code; lifted on exit."""
    log = OutageLog(schedule.link)
    cancel: dict = {}
    started = threading.Event()
    errors: list[BaseException] = []

    async def main() -> None:
        with trio.CancelScope() as scope:
            cancel["scope"], cancel["token"] = scope, trio.lowlevel.current_trio_token()
            started.set()
            await run_schedule(topo, schedule, log)

    def thread() -> None:
        try:
            trio.run(main)
        except BaseException as e:
            errors.append(e)
        finally:
            started.set()

    t = threading.Thread(target=thread, name="outages", daemon=True)
    t.start()
    started.wait()
    try:
        yield log
    finally:
        if "token" in cancel:
            try:
                cancel["token"].run_sync_soon(cancel["scope"].cancel)
            except trio.RunFinishedError:
                pass
        t.join()
        if errors:
            raise errors[0]
