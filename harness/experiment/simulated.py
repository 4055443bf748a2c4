"""A simulated target: each mechanism as a few lines of arithmetic, no network.

It answers the search's probes the way the lab measured each mechanism to behave (which
outcome kind, before or after headers, what a treatment does), so the search and the judge
can be exercised over thousands of drawn limits in seconds. It is a model of the lab, not
evidence about it: the random-world self-check (harness/selfcheck) runs real worlds.

    SimTarget(Mechanism("wallclock", limit=300))   # H1: streams longer than 300 s reset
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.worlds.model import ProbeSpec

from .factors import LAB, Ranges

MECHANISMS = {  # name -> (true hypothesis, parameters)
    "control": ("control", ()),
    "wallclock": ("h1", ("limit",)),
    "idle": ("h1", ("limit",)),
    "bytetime": ("h1", ("limit",)),  # bytes x seconds
    "keepalive_idle": ("h1", ("limit",)),
    "nat": ("h2", ("limit", "pings")),  # pings: the origin's ping interval (0: none)
    "stall": ("h4", ("limit",)),
    "prefill": ("h5", ("limit",)),  # bytes above which the first-byte budget is crossed
}
EVENT_BYTES = 200  # response bytes per field second of stream (4 events of ~50 bytes)


@dataclass(frozen=True)
class Mechanism:
    name: str
    limit: float = 0.0
    pings: float = 0.0

    @property
    def hypothesis(self) -> str:
        return MECHANISMS[self.name][0]


def _rec(spec: ProbeSpec, outcome: str, t_fail: float | None, t_total: float, headers: bool,
         canary_alive: bool | None) -> dict:
    probe = spec.to_dict()
    if canary_alive is not None:
        probe["canary"] = {"alive": canary_alive}
    return {"outcome": outcome, "label": outcome, "t_failure": t_fail, "t_total": t_total,
            "t_headers": 0.01 if headers else None, "bytes_received": int(EVENT_BYTES * max(spec.duration, 1)),
            "probe": probe}


class SimTarget:
    def __init__(self, mechanism: Mechanism, ranges: Ranges = LAB, h2c: bool = True):
        self.m = mechanism
        self.h2c = h2c  # False: an HTTP/1.1-only server closes on the h2 preface
        self.name = f"sim {mechanism.name}"
        self.ranges = ranges
        self.unit_s = 1.0
        self.min_keepalive = 1.0
        self.upload_rate = None  # arithmetic uploads nothing: no pacing of big requests

    def affordable(self, spec: ProbeSpec) -> bool:
        return True

    def probe(self, spec: ProbeSpec) -> dict:
        m, L = self.m, self.m.limit
        transfer = spec.duration + spec.longest_idle
        if spec.read_pace:
            transfer = max(transfer, EVENT_BYTES * max(spec.duration, 1) / spec.read_pace)
        think = spec.think_time or 0.0
        alive = None if not spec.canary else True
        ka = spec.keepalive

        def fail(kind: str, at: float, headers: bool, canary: bool | None = alive) -> dict:
            return _rec(spec, kind, at, at, headers, canary)

        if spec.protocol == "h2c" and not self.h2c:
            return fail("fin_before_headers", 0.01, False)
        if m.name == "wallclock" and transfer > L:
            return fail("reset_mid_stream", L, True)
        if m.name == "idle" and spec.longest_idle > L:
            return fail("reset_mid_stream", spec.duration + L, True)
        if m.name == "bytetime" and spec.size * transfer > L:
            return fail("reset_mid_stream", L / spec.size, True)
        if m.name == "keepalive_idle":
            if spec.canary and transfer + think > L:
                alive = False
            if think > L:
                return fail("fin_before_headers", 0.01, False, alive)
        if m.name == "nat":
            kept = ka is not None and ka < L
            if spec.canary and transfer + think > L and not kept:
                alive = False
            silent = min(spec.longest_idle, m.pings) if m.pings else spec.longest_idle
            if think > L and not kept:
                return fail("reset_before_headers", 0.01, False, alive)
            if silent > L and not kept:
                return fail("timeout", transfer + 30, True, alive)
        if m.name == "stall" and spec.protocol == "h2c" and spec.read_pace and (spec.h2_window or 65535) / spec.read_pace > L:
            return fail("h2_rst_stream", L, True)
        if m.name == "prefill" and spec.size > L:
            return fail("reset_before_headers", 1.0, False)
        return _rec(spec, "completed", None, transfer, True, alive)

