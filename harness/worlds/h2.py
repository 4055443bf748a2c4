"""H2: NAT / CGNAT conntrack eviction on long-lived flows.

The NAT's established timeout is short (120 s, GCP Cloud NAT; consumer routers ~350 s).
A flow silent for longer loses its mapping; the next client segment gets a new source
port and the origin answers RST. Silence happens mid-stream when the worker sends nothing
for that long (pings off or sparser than the timeout: `ping_interval` is a parameter) and
between turns on a pooled keep-alive connection (the think time), where the next request
fails before response headers. TCP keepalive shorter than the timeout keeps the mapping.

Measured here: a client that only reads does not learn of the eviction mid-stream -- the
origin's next segment meets the missing mapping at the NAT, whose own stack answers it
with RST towards the edge -- so a silent stream ends in the client's own idle timeout,
not in ECONNRESET; only a client that sends (a keepalive probe after the eviction, or the
next request on a pooled connection) gets the RST.
"""

from __future__ import annotations

from .hypothesis import Hypothesis
from .model import ProbeSpec, World
from .prediction import Effect, Expect, table

NAT_TIMEOUT = 120.0

PREDICTIONS = table(
    Effect("size", "none", "conntrack does not look at request size"),
    Effect("duration", "none", "a busy stream refreshes its mapping whatever its length"),
    Effect("size_x_duration", "none", "neither size nor a busy stream's length matters to conntrack"),
    # silence mid-stream evicts the mapping only when the origin's pings are sparser than the
    # NAT timeout: a world parameter, so not a test of H2
    Effect("idle_gap", "any", "silence longer than the NAT timeout evicts, unless pings break it"),
    Effect("think_time", "raises", "a pooled connection idle past the timeout fails on reuse"),
    # measured: with a small HTTP/2 window the flow is silent between window updates (no data,
    # no zero-window probes: TCP's window is open), and past the NAT timeout it is evicted
    Effect("read_pace", "any", "a slow HTTP/2 reader's flow is silent between window updates"),
    Effect("keepalive", "removes", "keepalive probes shorter than the timeout refresh the mapping"),
    # ...but a slow reader's silence is HTTP/2's own (window waits): there the other protocol,
    # whose TCP window keeps bytes moving, does remove it
    Effect("protocol", "none", "HTTP/1.1 and HTTP/2 flows are evicted alike",
           on=("size", "duration", "size_x_duration", "idle_gap", "think_time")),
    Effect("canary", "together", "an idle canary loses its mapping too (and dies on its next use)"),
    Effect("heartbeat", "none", "fresh connections get fresh mappings"),
)
# a reading client only waits after an eviction (its watchdog); a sender gets the RST; a NAT
# that drops stale flows leaves the reused connection hanging before headers
KINDS = {"*": {"timeout_body", "reset_mid_stream"},
         "think_time": {"reset_before_headers", "timeout_headers"}}


def world(ping_interval: float | None = None, nat_timeout: float = NAT_TIMEOUT, time_scale: float = 1 / 60,
          nat_stale: str = "new_mapping", **kw) -> World:
    return World(name="h2", hypothesis="h2", time_scale=time_scale, nat_timeout=nat_timeout,
                 nat_stale=nat_stale, origin_stream={"ping_interval": ping_interval},
                 description=__doc__.split("\n")[0], **kw)


def wire_silence(w: World, p: ProbeSpec) -> float:
    """Longest time without a byte on the flow during the stream (pings break silence)."""
    ping = w.origin_stream.get("ping_interval") or 0
    return min(p.longest_idle, ping) if ping else p.longest_idle


def expect(w: World, p: ProbeSpec) -> Expect:
    if p.keepalive is not None and p.keepalive < w.nat_timeout:
        return Expect.ok()
    if wire_silence(w, p) > w.nat_timeout:
        return Expect.failure("timeout", "reset_mid_stream")
    if p.think_time is not None and p.think_time > w.nat_timeout:
        return Expect.failure("reset_before_headers")
    return Expect.ok()


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    t = w.nat_timeout
    grid = [ProbeSpec(size=s, duration=10, longest_idle=2 * t) for s in sizes]
    small = sizes[0]
    grid += [ProbeSpec(size=small, duration=10, longest_idle=2 * t, keepalive=t / 4),
             ProbeSpec(size=small, duration=10, longest_idle=t / 2),
             ProbeSpec(size=small, duration=10, think_time=2 * t),
             ProbeSpec(size=small, duration=10, think_time=2 * t, keepalive=t / 4)]
    return grid


HYPOTHESIS = Hypothesis("h2", __doc__.split("\n")[0], PREDICTIONS, KINDS, world, expect, cells)
