"""H3: ISP connectivity loss -- access-link outages on a schedule, hitting every
connection at once.

Outages arrive as a Poisson process (default one per 10 field minutes, mean 20 s) on the
link between the client and its NAT router (kind `down`: the home router sees its link
drop). A stream caught by an outage stalls; the client's own idle timeout turns the
stall into a failure. Nothing about the request matters, only how long it is exposed.
"""

from __future__ import annotations

import math

from .model import Outages, ProbeSpec, World
from .prediction import Effect, Expect, table

RATE, MEAN = 1 / 600.0, 20.0

PREDICTIONS = table(
    Effect("size", "none", "an outage does not care how big the request is"),
    Effect("duration", "raises", "longer exposure, more chances to meet an outage"),
    Effect("idle_gap", "any", "silence adds exposure time, like any other second of the stream"),
    Effect("keepalive", "none", "keepalive cannot bridge a dead link"),
    Effect("protocol", "none", "every protocol loses the link alike"),
    Effect("read_pace", "none", "reading speed does not cause an outage"),
    Effect("think_time", "none", "idle time between turns is not more dangerous than traffic"),
    Effect("canary", "together", "an outage takes every connection down at once"),
)
# a dead link stalls; the kernel reports ETIMEDOUT / ENETUNREACH, a watchdog a timeout --
# never an RST (design.md: measured outage errors)
KINDS = {"*": {"timeout", "connect_error"}}


def world(rate_per_s: float = RATE, mean_s: float = MEAN, kind: str = "down", time_scale: float = 0.02,
          seed: int = 0, link: str = "access", **kw) -> World:
    return World(name="h3", hypothesis="h3", time_scale=time_scale,
                 outages=Outages(link=link, poisson_rate_per_s=rate_per_s, poisson_mean_s=mean_s, kind=kind,
                                 seed=seed),
                 description=__doc__.split("\n")[0], **kw)


def exposure_probability(w: World, p: ProbeSpec) -> float:
    """P(at least one outage overlaps a probe of this duration) for a Poisson process."""
    rate, mean = w.outages.poisson_rate_per_s, w.outages.poisson_mean_s
    return 1 - math.exp(-rate * (p.duration + p.longest_idle + mean))


def expect(w: World, p: ProbeSpec) -> Expect:
    q = exposure_probability(w, p)
    return Expect(q > 0.5, frozenset({"timeout", "connect_error", "reset_mid_stream", "reset_before_headers",
                                      "fin_mid_stream"}), rate=(q, q))


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    return [ProbeSpec(size=s, duration=d, idle_timeout=60) for s in sizes for d in (10, 300)]
