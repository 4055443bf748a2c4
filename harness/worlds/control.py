"""control: the full topology (NAT, edge, origin) with every fault off. Nothing fails."""

from __future__ import annotations

from .model import ProbeSpec, World
from .prediction import Effect, Expect, table

PREDICTIONS = table(*(Effect(f, "none", "no mechanism is on") for f in
                      ("size", "duration", "idle_gap", "keepalive", "protocol", "read_pace", "think_time")))


def world(time_scale: float = 0.02, **kw) -> World:
    return World(name="control", hypothesis="control", time_scale=time_scale,
                 description="every fault off: NAT with the RFC 5382 timeout, an edge with no limits",
                 **kw)


def expect(w: World, p: ProbeSpec) -> Expect:
    return Expect.ok()
