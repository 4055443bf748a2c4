"""H3: ISP connectivity loss -- access-link outages on a schedule, hitting every
connection at once.

Outages on the link between the client and its NAT router (kind `down`: the home router
sees its link drop): by default a bad line that drops for 40 s every 100 s (a Poisson
process is a parameter too). A TCP connection survives a short outage -- it stalls and
resumes -- so an outage only fails a stream that the client's own watchdog gives up on
(30 s here, shorter than the outages). Nothing about the request matters, only how long
it is exposed. (time_scale 0.05, not 0.02: the lab's own unscaled overheads -- a 10 MB
upload through the edge takes ~0.3 s of real time -- must stay small in field seconds,
or they would show up as a size effect that is really exposure.)
"""

from __future__ import annotations

import math

from .hypothesis import Hypothesis
from .model import Outages, ProbeSpec, World
from .prediction import Effect, Expect, table

PERIOD, DOWN, WATCHDOG = 100.0, 40.0, 30.0

PREDICTIONS = table(
    # an outage does not care how big a request is, but a bigger upload takes longer: more
    # exposure (in the lab the upload is real time, which a small time_scale magnifies)
    Effect("size", "any", "a bigger upload is exposed for longer, nothing more"),
    Effect("duration", "any", "longer exposure, more chances to meet an outage"),
    Effect("size_x_duration", "any", "longer exposure (the duration part)"),
    Effect("idle_gap", "any", "silence adds exposure time, like any other second of the stream"),
    Effect("keepalive", "none", "keepalive cannot bridge a dead link"),
    Effect("protocol", "none", "every protocol loses the link alike"),
    Effect("read_pace", "any", "a slow reader is exposed for longer, nothing more"),
    Effect("think_time", "any", "a pooled connection idles through outages: more exposure, nothing more"),
    # measured: an idle TCP connection survives an outage (nothing to retransmit); a canary
    # checked while the link is still down dies with the probe, one checked after it lives:
    # timing, not a test of H3
    Effect("canary", "any", "an idle canary outlives an outage unless checked during it"),
    Effect("heartbeat", "together", "when the path is down, tiny fresh requests fail too"),
)
# a dead link stalls; the kernel reports ETIMEDOUT / ENETUNREACH, a watchdog a timeout --
# never an RST (design.md: measured outage errors)
KINDS = {"*": {"timeout_body", "timeout_headers", "connect_error"}}


def world(period_s: float = PERIOD, down_s: float = DOWN, rate_per_s: float = 0.0, mean_s: float = 0.0,
          kind: str = "down", time_scale: float = 0.05, seed: int = 0, link: str = "access",
          client_idle_timeout: float = WATCHDOG, **kw) -> World:
    return World(name="h3", hypothesis="h3", time_scale=time_scale, client_idle_timeout=client_idle_timeout,
                 outages=Outages(link=link, period_s=period_s, down_s=down_s, poisson_rate_per_s=rate_per_s,
                                 poisson_mean_s=mean_s, kind=kind, seed=seed),
                 description=__doc__.split("\n")[0], **kw)


def exposure_probability(w: World, p: ProbeSpec) -> float:
    """P(the probe meets an outage its watchdog gives up on), for a probe starting at a
    random time: periodic outages longer than the watchdog, or a Poisson process."""
    o, watchdog = w.outages, (p.idle_timeout or w.client_idle_timeout)
    length = p.duration + p.longest_idle
    q = 0.0
    if o.period_s and o.down_s > watchdog:
        # fails if a killing stretch (the first down_s - watchdog seconds of an outage) falls
        # inside the probe's life, or the probe starts in one
        q = min(1.0, (length + o.down_s - watchdog) / o.period_s)
    if o.poisson_rate_per_s and o.poisson_mean_s:
        long_rate = o.poisson_rate_per_s * math.exp(-watchdog / o.poisson_mean_s)
        q = 1 - (1 - q) * math.exp(-long_rate * (length + o.poisson_mean_s))
    return q


def expect(w: World, p: ProbeSpec) -> Expect:
    q = exposure_probability(w, p)
    return Expect(q > 0.5, frozenset({"timeout", "connect_error", "reset_mid_stream", "reset_before_headers",
                                      "fin_mid_stream"}), rate=(q, q))


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    return [ProbeSpec(size=s, duration=d) for s in sizes for d in (10, 300)]


HYPOTHESIS = Hypothesis("h3", __doc__.split("\n")[0], PREDICTIONS, KINDS, world, expect, cells)
