"""field: a mixture meant to reproduce the field report's shape -- H1's size x duration
budget near its boundary (big sessions on long turns die, mid-stream), a consumer-router
NAT (350 s: pings keep streams alive, but a pooled connection reused after a long think
time fails before headers, H2), and occasional H3 outages (the bad mornings). Expect
resets concentrated in the largest requests, pre-header resets after long pauses, and a
few everywhere. No single hypothesis explains it: the engine falsifies each one."""

from __future__ import annotations

from . import h1, h3
from .model import Outages, ProbeSpec, World
from .prediction import Expect


def world(time_scale: float = 0.02, **kw) -> World:
    base = h1.world("size_duration", time_scale=time_scale)
    return World(name="field", hypothesis="field", time_scale=time_scale, origin_plan=base.origin_plan,
                 nat_timeout=350.0, origin_stream={"ping_interval": 30.0},
                 outages=Outages(poisson_rate_per_s=1 / 1800.0, poisson_mean_s=120.0, seed=7),
                 client_idle_timeout=90.0,
                 description=__doc__.split("\n")[0], **kw)


def expect(w: World, p: ProbeSpec) -> Expect:
    e = h1.expect(w, p)
    q = h3.exposure_probability(w, p)
    if e.fails:
        return Expect(True, e.kinds | {"timeout"}, rate=(max(q, 0.99), 1.0))
    return Expect(False, frozenset({"timeout", "reset_mid_stream"}), rate=(0.0, q))


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    big = tuple(sorted(set(sizes) | {10_000_000}))
    return [ProbeSpec(size=s, duration=100) for s in big]
