"""control: the full topology (NAT, edge, origin) with every fault off. Nothing fails."""

from __future__ import annotations

from .hypothesis import Hypothesis
from .model import ProbeSpec, World
from .prediction import Effect, Expect, table

PREDICTIONS = table(*(Effect(f, "none", "no mechanism is on") for f in
                      ("size", "duration", "size_x_duration", "idle_gap", "keepalive", "protocol", "read_pace",
                       "think_time", "canary", "heartbeat")))
KINDS: dict[str, set[str]] = {"*": set()}


def world(time_scale: float = 0.02, **kw) -> World:
    return World(name="control", hypothesis="control", time_scale=time_scale,
                 description="every fault off: NAT with the RFC 5382 timeout, an edge with no limits",
                 **kw)


def expect(w: World, p: ProbeSpec) -> Expect:
    return Expect.ok()


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    """Every factor at its harshest, nothing may fail."""
    out = [ProbeSpec(size=s, duration=120) for s in sizes]
    out += [ProbeSpec(size=sizes[0], duration=30, longest_idle=200), ProbeSpec(size=sizes[0], protocol="h2c"),
            ProbeSpec(size=sizes[0], duration=30, read_pace=40)]  # 2000 B/s at 0.02
    return out


HYPOTHESIS = Hypothesis("control", __doc__.split("\n")[0], PREDICTIONS, KINDS, world, expect, cells)
