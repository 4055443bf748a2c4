"""H1: an edge / LB / worker budget kills long streams on big requests.

Variants (field defaults; all durations scale with time_scale):
- stream_limit: the edge resets any response running longer than 120 s (wall clock)
- idle: the edge resets a response silent for 100 s (Cloudflare's proxy read timeout);
  the worker sends no pings while stalled
- size_duration: the origin worker resets when request bytes x seconds exceeds a budget
  (6 MB x 60 s): big requests die early, small ones run long
- keepalive_idle: the edge closes client connections idle for 400 s (Cloudflare); a client
  that reuses one after a longer think time fails before response headers
Built-in edge by default; nginx / haproxy selectable with edge=.
"""

from __future__ import annotations

from harness.edge.policy import EdgePolicy

from .hypothesis import Hypothesis
from .model import ProbeSpec, World
from .prediction import Effect, Expect, table

VARIANTS = ("stream_limit", "idle", "size_duration", "keepalive_idle")
STREAM_LIMIT, IDLE_LIMIT, KEEPALIVE_IDLE = 120.0, 100.0, 400.0
BUDGET = 6_000_000 * 60.0  # bytes x seconds
# The worker's clock starts at the request headers, so receiving and parsing the body
# count. In the lab that takes real, unscaled time at the origin (~0.005 s per MB: the
# edge buffers the upload and forwards it over a fast link; measured), which is
# LAB_S_PER_MB / time_scale field seconds -- 7.5 s at 30 MB with time_scale 0.02.
LAB_S_PER_MB = 0.005

PREDICTIONS = table(
    Effect("size", "any", "a bytes x seconds budget kills big requests even on short streams"),
    Effect("duration", "any", "raises with a wall-clock or size x duration budget"),
    Effect("size_x_duration", "any", "raises with a bytes x seconds worker budget"),
    Effect("idle_gap", "any", "raises with an idle (read) timeout at the edge, or a wall-clock one"),
    Effect("think_time", "any", "raises when the edge closes idle keep-alive connections"),
    # the engine keeps a slow reader's whole transfer inside any duration limit it found, but
    # a slow HTTP/2 reader waits silently for window credit: an idle timeout counts that
    Effect("read_pace", "any", "a slow reader's waits for window credit are silence an idle budget counts"),
    Effect("keepalive", "none", "TCP keepalive does not touch an HTTP-level budget"),
    Effect("protocol", "none", "the budget is the same for HTTP/1.1 and HTTP/2",
           on=("size", "duration", "size_x_duration", "idle_gap", "think_time")),
    # an HTTP budget is per request, but the keepalive_idle variant closes every idle keep-alive
    # connection, an idle canary included: not a test of H1
    Effect("canary", "any", "a stream budget spares an idle sibling; an idle-connection close does not"),
    Effect("heartbeat", "none", "a budget kills long or big requests, never a tiny fresh one"),
)
# a budget on streams exists: at least one of these shows a limit (size alone is not enough:
# a first-byte budget on big requests is H5's mechanism)
RAISES_ONE_OF = ("duration", "size_x_duration", "idle_gap", "think_time")
_MID = {"reset_mid_stream", "fin_mid_stream", "h2_rst_stream", "h2_goaway", "truncated_clean"}
_BEFORE = {"reset_before_headers", "fin_before_headers"}
# a budget kills streams mid-way; a reused idle connection fails before headers; and a
# wall-clock or bytes x seconds budget counts the upload, so a big or slow one can fail before
KINDS = {"*": _MID, "think_time": _BEFORE, "size": _MID | _BEFORE, "size_x_duration": _MID | _BEFORE}


def world(variant: str = "stream_limit", time_scale: float = 0.02, edge: str = "builtin", **kw) -> World:
    if variant not in VARIANTS:
        raise ValueError(f"h1 variant: got {variant!r}; allowed one of {', '.join(VARIANTS)}")
    policy, plan, stream = EdgePolicy(on_limit="rst"), (), {"ping_interval": 30.0}
    if variant == "stream_limit":
        policy = EdgePolicy(max_stream_duration=STREAM_LIMIT, on_limit="rst")
    elif variant == "idle":
        policy = EdgePolicy(idle_timeout=IDLE_LIMIT, on_limit="rst")
        stream = {"ping_interval": None}
    elif variant == "size_duration":
        plan = ({"when": {"phase": "stream", "body_bytes_times_seconds_over": BUDGET}, "do": {"tcp_rst": {}}},)
    else:
        policy = EdgePolicy(client_idle_timeout=KEEPALIVE_IDLE, on_limit="fin")
    return World(name=f"h1-{variant.replace('_', '-')}", hypothesis="h1", time_scale=time_scale, edge=edge,
                 edge_policy=policy, origin_plan=plan, origin_stream=stream,
                 description=__doc__.split("\n")[0], **kw)


def lab_seconds(w: World, p: ProbeSpec) -> float:
    """The lab's unscaled upload time for this probe, in field seconds."""
    return LAB_S_PER_MB * p.size / 1e6 / w.time_scale


def clear_of_budget(w: World, p: ProbeSpec, budget: float) -> bool:
    """True when the probe is far enough from the budget for the outcome to be certain."""
    product = p.size * (p.duration + p.longest_idle + lab_seconds(w, p))
    return not 0.6 * budget <= product <= 1.6 * budget


def expect(w: World, p: ProbeSpec) -> Expect:
    pol = w.edge_policy
    total = p.duration + p.longest_idle
    if pol.max_stream_duration is not None and total > pol.max_stream_duration:
        return Expect.failure("reset_mid_stream")
    if pol.idle_timeout is not None and p.longest_idle > pol.idle_timeout:
        return Expect.failure("reset_mid_stream")
    for rule in w.origin_plan:
        budget = rule.get("when", {}).get("body_bytes_times_seconds_over")
        if budget is not None and p.size * (total + lab_seconds(w, p)) > budget:
            return Expect.failure("reset_mid_stream")
    if pol.client_idle_timeout is not None and p.think_time is not None and p.think_time > pol.client_idle_timeout:
        return Expect.failure("reset_before_headers", "fin_before_headers")
    return Expect.ok()


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    pol = w.edge_policy
    if pol.max_stream_duration is not None:
        grid = [ProbeSpec(size=s, duration=d) for s in sizes for d in (30, 300)]
        return grid + [ProbeSpec(size=sizes[0], duration=300, keepalive=30),
                       ProbeSpec(size=sizes[0], duration=300, protocol="h2c")]
    if pol.idle_timeout is not None:
        return [ProbeSpec(size=s, duration=20, longest_idle=i) for s in sizes for i in (0, 200)]
    if w.origin_plan:
        # a witness pair at 10 MB shows the size effect even in the quick matrix; cells too
        # close to the budget (lab overhead included) are left out: their outcome is a toss-up
        big = tuple(sorted(set(sizes) | {10_000_000}))
        grid = [ProbeSpec(size=s, duration=d) for s in big for d in (5, 100)]
        return [p for p in grid if clear_of_budget(w, p, BUDGET)]
    return [ProbeSpec(size=sizes[0], duration=10, think_time=t) for t in (100, 600)]


HYPOTHESIS = Hypothesis("h1", __doc__.split("\n")[0], PREDICTIONS, KINDS, world, expect, cells,
                        raises_one_of=RAISES_ONE_OF)
