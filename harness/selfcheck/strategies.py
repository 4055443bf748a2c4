"""Random worlds with known truth: for each hypothesis family, a world drawn over wide field
ranges, and what is true of it -- which hypothesis holds and where its failure boundary lies,
in field units (the world's own seconds; bytes are never scaled).

One drawing function serves two sources of randomness through a `Picker`:
- `RandomPicker(random.Random(seed))`: the self-check's seeded draws (`draw(rng, family)`);
- `worlds(family)`: a Hypothesis strategy (the same function fed by `st.data()` draws, so
  failures shrink), for property tests.

Families (FAMILIES; `--family` also takes a hypothesis: h1 = every h1-* family):

    control         every fault off
    h1-stream       edge wall-clock budget 30-900 s (max_stream_duration)     -> duration
    h1-idle         edge idle budget 30-900 s, origin without pings           -> idle_gap
    h1-bytetime     origin worker budget on body bytes x seconds              -> size_x_duration
    h1-keepalive    edge closes idle keep-alive connections after 30-900 s    -> think_time
    h2-nat          NAT established timeout 30-900 s; origin pings none / shorter / longer
                    than the timeout; stale mapping answered by RST or dropped -> think_time
                    (and idle_gap unless pings shorter than the timeout keep the flow busy)
    h3-periodic     an access-link outage every P s lasting D s (down / blackhole), a client
                    watchdog shorter than D                                   -> duration (soft)
    h3-poisson      Poisson outages (rate, mean length), a client watchdog     -> duration (soft)
    h4-stall        HTTP/2 edge resetting streams stalled on flow control 5-120 s
                                                                              -> read_pace (nominal)
    h5-prefill      first-byte budget 30-300 s over a prefill of s per MB: requests above
                    0.5-30 MB never get headers                               -> size

Time scale. Each draw picks a time scale log-uniform in 0.01-0.1, then moves it into what
the lab can emulate for that draw, and records why (`Draw.notes`, `time_scale_drawn`):
- a floor, because the lab has unscaled costs that a small scale turns into large field
  errors: ~LAB_OVERHEAD_S of real time per probe (connect, first events, the delay line),
  LAB_S_PER_MB of real time per MB uploaded; a boundary must be at least 1/TOLERANCE times
  them; conntrack and TCP keepalive count whole seconds, so a NAT timeout must be at least
  NAT_MIN_REAL real seconds and is snapped to a whole number of them;
- a ceiling, so that probing past the boundary (2x) stays under MAX_REAL real seconds;
when the floor is above the ceiling the floor wins (the world is slower, not dropped).

Boundary exactness: `exact=True` where the mechanism is a threshold on one factor; H3's is
the duration where the failure probability passes 1/2 (a soft boundary), H4's the read pace
below which the edge resets (for the client window H4_WINDOW; measured, see H4_DRAIN_FACTOR).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.edge.policy import EdgePolicy
from harness.worlds.model import Outages, ProbeSpec, World

FAMILIES = ("control", "h1-stream", "h1-idle", "h1-bytetime", "h1-keepalive", "h2-nat", "h3-periodic",
            "h3-poisson", "h4-stall", "h5-prefill")
TRUTHS = ("control", "h1", "h2", "h3", "h4", "h5")
EDGES = ("builtin", "nginx", "haproxy")
# families whose policy nginx / haproxy can express (harness/edge/policy.py lost_in_real_proxy):
# no max_stream_duration, no send_stall_timeout; a limit ends with what the proxy sends
REAL_EDGE_OK = ("control", "h1-idle", "h1-bytetime", "h1-keepalive", "h2-nat", "h3-periodic", "h3-poisson",
                "h5-prefill")

TIME_SCALE = (0.01, 0.1)
LAB_OVERHEAD_S = 0.25  # real seconds a probe spends on connect, request, first events
LAB_S_PER_MB = 0.01  # real upload seconds per MB (h1.LAB_S_PER_MB measured 0.005; x2 under load)
TOLERANCE = 0.1  # unscaled lab costs at most this fraction of a boundary
NAT_MIN_REAL = 3  # real seconds: a keepalive (whole seconds, >= 1) can stay under the timeout
MAX_REAL = 60.0  # real seconds for a probe at 2x the boundary
WATCHDOG = 3600.0  # client watchdog (field s) where it is not part of the mechanism: above every range
H4_WINDOW = 4096  # the client window the H4 read-pace boundary is stated for (bytes)
PACE_STREAM = 16.0  # field s of stream of a read-pace probe (the engine's, several windows)
# Measured (4 KB window, the default 8 s stream, builtin edge): the edge resets a stream when
# window / read_pace exceeds ~2x its stall limit, not 1x -- at a 1.0 s and a 2.0 s real limit,
# 2.0x completed 2/2 and 2.2x reset 2/2 (the client credits a frame only once it has read all
# of it, and the edge's stall clock starts when its writes block, not when the window closes).
# h4.expect uses the same factor.
H4_DRAIN_FACTOR = 2.0
# ... but not below ~1 real s: with a 0.5 s real limit, 4x completed and 5x reset (the drain
# has a fixed part: the first reads come out of a burst allowance, frames are credited whole)
H4_MIN_REAL = 1.0
# as the engine states its boundaries (harness/experiment/factors.py), except size_x_duration,
# whose truth is the budget itself (bytes x field seconds; the engine's ladder reports stream
# seconds at one size, and the scorer converts); read_pace is the time a window takes to drain
UNITS = {"size": "bytes", "duration": "s", "size_x_duration": "byte_s", "idle_gap": "s", "think_time": "s",
         "read_pace": "s"}


class Picker(Protocol):
    def uniform(self, lo: float, hi: float) -> float: ...
    def choice(self, options: tuple) -> Any: ...


class RandomPicker:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def uniform(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi)

    def choice(self, options: tuple) -> Any:
        return self.rng.choice(list(options))


def log_uniform(pick: Picker, lo: float, hi: float) -> float:
    return math.exp(pick.uniform(math.log(lo), math.log(hi)))


@dataclass(frozen=True)
class Boundary:
    factor: str  # one of UNITS
    value: float  # field units (bytes, field seconds, byte x field seconds, bytes/s)
    exact: bool = True

    @property
    def unit(self) -> str:
        return UNITS[self.factor]

    def to_dict(self) -> dict:
        return {"factor": self.factor, "value": self.value, "unit": self.unit, "exact": self.exact}


@dataclass(frozen=True)
class Draw:
    family: str
    truth: str  # control | h1..h5
    world: World
    boundaries: tuple[Boundary, ...]
    params: dict  # the drawn mechanism parameters, field units
    time_scale_drawn: float
    time_scale_min: float
    notes: tuple[str, ...] = field(default=())

    def boundary(self, factor: str) -> Boundary | None:
        return next((b for b in self.boundaries if b.factor == factor), None)

    def to_dict(self) -> dict:
        return {"family": self.family, "truth": self.truth, "world": self.world.to_dict(),
                "boundaries": [b.to_dict() for b in self.boundaries], "params": self.params,
                "time_scale": self.world.time_scale, "time_scale_drawn": self.time_scale_drawn,
                "time_scale_min": self.time_scale_min, "notes": list(self.notes)}


def families_for(selector: str | None) -> tuple[str, ...]:
    """`None` -> all; a family name -> it; a hypothesis (h1) -> its families."""
    if selector is None:
        return FAMILIES
    chosen = tuple(f for f in FAMILIES if f == selector or f.split("-")[0] == selector)
    if not chosen:
        from netem.errors import ConfigError

        raise ConfigError("--family", selector, "one of " + ", ".join(FAMILIES + TRUTHS[1:]))
    return chosen


@dataclass(frozen=True)
class Ranges:
    """Where a draw's limits come from (field units) and, optionally, a fixed time scale."""

    seconds: tuple[float, float] = (30, 900)  # wall-clock, idle, keep-alive, NAT budgets
    reference_mb: tuple[float, float] = (1, 30)  # byte x time budget: "S0 MB dies after D0 s"
    watchdog: tuple[float, float] = (20, 120)  # H3's client watchdog
    stall: tuple[float, float] = (5, 120)  # H4's stall limit
    limit_mb: tuple[float, float] = (0.5, 30)  # H5's size limit
    first_byte: tuple[float, float] = (30, 300)  # H5's first-byte budget
    fixed_scale: float | None = None  # None: drawn in TIME_SCALE and settled per draw


LAB = Ranges()


# -- time scale -----------------------------------------------------------------------------

def _settle(r: Ranges, drawn: float, floor: float, ceiling: float, notes: list[str], why: str,
            ceiling_why: str = "") -> float:
    if r.fixed_scale:
        if drawn < floor:
            notes.append(f"time_scale {drawn:g} is below the floor {floor:.4g} ({why}): the boundary carries "
                         "the lab's own overhead")
        return drawn
    return settle_scale(drawn, floor, ceiling, notes, why, *((ceiling_why,) if ceiling_why else ()))


def _floor_for(boundary_s: float) -> float:
    """Smallest scale at which the lab's per-probe overhead is TOLERANCE of a field boundary."""
    return LAB_OVERHEAD_S / (TOLERANCE * boundary_s)


def settle_scale(drawn: float, floor: float, ceiling: float, notes: list[str], why: str,
                 ceiling_why: str = f"probes at 2x the boundary stay under {MAX_REAL:g} real s") -> float:
    if drawn < floor:
        notes.append(f"time_scale raised {drawn:.4g} -> {floor:.4g}: {why}")
        drawn = floor
    if drawn > ceiling:
        if floor > ceiling:
            notes.append(f"time_scale {drawn:.4g} is above the runtime ceiling {ceiling:.4g} (floor wins: slower)")
        else:
            notes.append(f"time_scale lowered {drawn:.4g} -> {ceiling:.4g}: {ceiling_why}")
            drawn = ceiling
    return float(f"{drawn:.4g}")


# -- families -------------------------------------------------------------------------------

def draw_family(pick: Picker, family: str, edges: tuple[str, ...] = ("builtin",), r: Ranges = None) -> Draw:
    if family not in FAMILIES:
        raise ValueError(f"family: got {family!r}; allowed one of {', '.join(FAMILIES)}")
    r = r or LAB
    ts0 = r.fixed_scale or log_uniform(pick, *TIME_SCALE)
    usable = tuple(e for e in edges if e == "builtin" or family in REAL_EDGE_OK) or ("builtin",)
    edge = pick.choice(usable)
    notes: list[str] = []
    return _FACTORIES[family](pick, ts0, edge, notes, r)


def _control(pick, ts0, edge, notes, r) -> Draw:
    ts = _settle(r, ts0, 0.0, math.inf, notes, "")
    w = World(name="rand-control", hypothesis="control", time_scale=ts, edge=edge,
              edge_policy=EdgePolicy(on_limit="fin" if edge != "builtin" else "rst"),
              description="drawn control world: every fault off")
    return Draw("control", "control", w, (), {}, ts0, 0.0, tuple(notes))


def _h1_stream(pick, ts0, edge, notes, r) -> Draw:
    limit = log_uniform(pick, *r.seconds)
    on_limit = pick.choice(("rst", "fin"))
    floor = _floor_for(limit)
    ts = _settle(r, ts0, floor, MAX_REAL / (2 * limit), notes, "wall-clock budget vs lab overhead")
    w = World(name="rand-h1-stream", hypothesis="h1", time_scale=ts, edge="builtin",
              edge_policy=EdgePolicy(max_stream_duration=limit, on_limit=on_limit), client_idle_timeout=WATCHDOG,
              description="drawn H1: wall-clock stream budget at the edge")
    return Draw("h1-stream", "h1", w, (Boundary("duration", limit),),
                {"max_stream_duration": limit, "on_limit": on_limit}, ts0, floor, tuple(notes))


def _h1_idle(pick, ts0, edge, notes, r) -> Draw:
    limit = log_uniform(pick, *r.seconds)
    on_limit = "fin" if edge != "builtin" else pick.choice(("rst", "fin"))
    floor = _floor_for(limit)
    ts = _settle(r, ts0, floor, MAX_REAL / (2 * limit), notes, "idle budget vs lab overhead")
    w = World(name="rand-h1-idle", hypothesis="h1", time_scale=ts, edge=edge,
              edge_policy=EdgePolicy(idle_timeout=limit, on_limit=on_limit), origin_stream={"ping_interval": None},
              client_idle_timeout=WATCHDOG, description="drawn H1: idle (read) budget at the edge, no pings")
    return Draw("h1-idle", "h1", w, (Boundary("idle_gap", limit),),
                {"idle_timeout": limit, "on_limit": on_limit}, ts0, floor, tuple(notes))


def _h1_bytetime(pick, ts0, edge, notes, r) -> Draw:
    # the budget as "a request of S0 MB dies after D0 s": S0 1-30 MB, D0 30-900 s
    s0_mb, d0 = log_uniform(pick, *r.reference_mb), log_uniform(pick, *r.seconds)
    budget = s0_mb * 1e6 * d0
    # the worker's clock runs during the (unscaled) upload: at S0 it must stay TOLERANCE of D0
    floor = max(_floor_for(d0), LAB_S_PER_MB * s0_mb / (TOLERANCE * d0))
    ts = _settle(r, ts0, floor, MAX_REAL / (2 * d0), notes, "upload time at the reference size vs the budget")
    plan = ({"when": {"phase": "stream", "body_bytes_times_seconds_over": budget}, "do": {"tcp_rst": {}}},)
    w = World(name="rand-h1-bytetime", hypothesis="h1", time_scale=ts, edge=edge,
              edge_policy=EdgePolicy(on_limit="fin" if edge != "builtin" else "rst"), origin_plan=plan,
              client_idle_timeout=WATCHDOG, description="drawn H1: worker budget on body bytes x seconds")
    return Draw("h1-bytetime", "h1", w, (Boundary("size_x_duration", budget),),
                {"budget_byte_s": budget, "reference_mb": s0_mb, "reference_s": d0}, ts0, floor, tuple(notes))


def _h1_keepalive(pick, ts0, edge, notes, r) -> Draw:
    limit = log_uniform(pick, *r.seconds)
    floor = _floor_for(limit)
    ts = _settle(r, ts0, floor, MAX_REAL / (2 * limit), notes, "keep-alive idle limit vs lab overhead")
    w = World(name="rand-h1-keepalive", hypothesis="h1", time_scale=ts, edge=edge,
              edge_policy=EdgePolicy(client_idle_timeout=limit, on_limit="fin"), client_idle_timeout=WATCHDOG,
              description="drawn H1: the edge closes idle keep-alive connections")
    return Draw("h1-keepalive", "h1", w, (Boundary("think_time", limit),),
                {"client_idle_timeout": limit}, ts0, floor, tuple(notes))


def _h2_nat(pick, ts0, edge, notes, r) -> Draw:
    timeout = log_uniform(pick, *r.seconds)
    pings = pick.choice(("none", "shorter", "longer"))
    stale = pick.choice(("new_mapping", "drop_invalid"))
    ping_factor = {"none": None, "shorter": pick.uniform(0.1, 0.5), "longer": pick.uniform(1.5, 3.0)}[pings]
    floor = max(_floor_for(timeout), NAT_MIN_REAL / timeout)
    ts = _settle(r, ts0, floor, MAX_REAL / (2 * timeout), notes,
                      f"conntrack/keepalive count whole seconds: the timeout needs >= {NAT_MIN_REAL} real s")
    # conntrack takes whole seconds (rounded up): snap the scale so timeout x scale is whole
    if r.fixed_scale:  # the scale is given: the timeout itself becomes whole real seconds
        timeout = max(2, round(timeout * ts)) / ts
    else:
        real = max(NAT_MIN_REAL, round(timeout * ts))
        if abs(real / timeout - ts) > 1e-12:
            notes.append(f"time_scale snapped {ts:.4g} -> {real / timeout:.6g}: the NAT timeout is {real} "
                         "whole real s")
        ts = real / timeout
    ping = None if ping_factor is None else ping_factor * timeout
    bounds = [Boundary("think_time", timeout)]
    if pings != "shorter":
        bounds.insert(0, Boundary("idle_gap", timeout))
    # the client watchdog outlasts the timeout (else it, not the NAT, would set the idle boundary);
    # a silent evicted stream ends in it, so it is kept short: 1.5x
    w = World(name="rand-h2-nat", hypothesis="h2", time_scale=ts, edge=edge, nat_timeout=timeout, nat_stale=stale,
              edge_policy=EdgePolicy(on_limit="fin" if edge != "builtin" else "rst"),
              origin_stream={"ping_interval": ping}, client_idle_timeout=1.5 * timeout,
              description=f"drawn H2: NAT timeout, pings {pings}, stale {stale}")
    return Draw("h2-nat", "h2", w, tuple(bounds),
                {"nat_timeout": timeout, "pings": pings, "ping_interval": ping, "nat_stale": stale},
                ts0, floor, tuple(notes))


def _h3(pick, ts0, edge, notes, r, poisson: bool) -> Draw:
    watchdog = log_uniform(pick, *r.watchdog)
    kind = pick.choice(("down", "blackhole"))
    if poisson:
        mean = log_uniform(pick, 1.5 * watchdog, 6 * watchdog)
        long_share = math.exp(-watchdog / mean)  # outages longer than the watchdog
        # observable: a 900 s stream meets a killing outage with probability >= 1/2; the link
        # is down at most 30% of the time
        lo, hi = math.log(2) / ((900 + mean) * long_share), 0.3 / mean
        rate = log_uniform(pick, lo, max(lo, hi))
        period = down = 0.0
        params = {"poisson_rate_per_s": rate, "poisson_mean_s": mean}
    else:
        down = log_uniform(pick, 1.5 * watchdog, 6 * watchdog)
        period = log_uniform(pick, max(60.0, 3 * down), max(60.0, 3 * down, 1800.0))
        rate = mean = 0.0
        params = {"period_s": period, "down_s": down}
    params.update({"watchdog": watchdog, "kind": kind})
    seed = int(pick.uniform(0, 2**31))
    w = World(name=f"rand-{'h3-poisson' if poisson else 'h3-periodic'}", hypothesis="h3", edge=edge,
              edge_policy=EdgePolicy(on_limit="fin" if edge != "builtin" else "rst"), client_idle_timeout=watchdog,
              outages=Outages(link="access", period_s=period, down_s=down, poisson_rate_per_s=rate,
                              poisson_mean_s=mean, kind=kind, seed=seed),
              description="drawn H3: access-link outages and a client watchdog")
    half = soft_duration(w)
    bounds = (Boundary("duration", half, exact=False),) if half is not None else ()
    floor = _floor_for(watchdog)
    ts = _settle(r, ts0, floor, MAX_REAL / (2 * max(half or 900.0, watchdog)), notes,
                      "client watchdog vs lab overhead")
    w = w.with_(time_scale=ts)
    return Draw("h3-poisson" if poisson else "h3-periodic", "h3", w, bounds, params, ts0, floor, tuple(notes))


def soft_duration(w: World, q: float = 0.5) -> float | None:
    """The stream duration (field s) at which the failure probability passes q, from the
    world's own outage schedule (not from h3's closed form): a probe starting at a uniform
    time fails if the killing stretch of an outage longer than the watchdog -- its first
    (length - watchdog) seconds -- overlaps the probe's life. Exact over a long schedule
    (~400 outages): the share of start times t with [t, t + length] meeting a stretch."""
    o, wd = w.outages, w.client_idle_timeout
    horizon = 400 * (o.period_s or 1 / max(o.poisson_rate_per_s, 1e-9))
    kill = sorted((x.start, x.end - wd) for x in o.schedule("access", horizon).windows if x.duration > wd)
    if not kill:
        return None

    def rate(length: float) -> float:
        span, covered, reach = horizon - length, 0.0, 0.0
        for a, b in kill:  # union of [a - length, b], clipped to the start times [0, span]
            lo, hi = max(a - length, reach, 0.0), min(b, span)
            if hi > lo:
                covered += hi - lo
            reach = max(reach, min(b, span))
        return covered / span

    lo, hi = 0.0, horizon / 8
    if rate(lo) >= q:
        return 0.0
    if rate(hi) < q:
        return None
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if rate(mid) < q else (lo, mid)
    return (lo + hi) / 2


def _h3_periodic(pick, ts0, edge, notes, r) -> Draw:
    return _h3(pick, ts0, edge, notes, r, poisson=False)


def _h3_poisson(pick, ts0, edge, notes, r) -> Draw:
    return _h3(pick, ts0, edge, notes, r, poisson=True)


def _h4_stall(pick, ts0, edge, notes, r) -> Draw:
    limit = log_uniform(pick, *r.stall)
    on_limit = pick.choice(("rst_stream", "goaway"))
    # the drain factor was measured at stall limits of 1-3 real s; at 0.5 real s a window
    # taking 4x the limit to drain still completed (H4_DRAIN_FACTOR)
    floor = H4_MIN_REAL / limit
    ts = _settle(r, ts0, floor, MAX_REAL / (2 * limit), notes, f"stall limit under {H4_MIN_REAL:g} real s")
    w = World(name="rand-h4-stall", hypothesis="h4", time_scale=ts, edge="builtin",
              edge_policy=EdgePolicy(client_protocol="h2c", send_stall_timeout=limit, on_limit=on_limit,
                                     h2_error_code=2),
              client_idle_timeout=WATCHDOG, description="drawn H4: HTTP/2 edge resets flow-control stalls")
    # the boundary as the time one window takes to drain (window / read pace, field s)
    drain = H4_DRAIN_FACTOR * limit
    return Draw("h4-stall", "h4", w, (Boundary("read_pace", drain, exact=False),),
                {"send_stall_timeout": limit, "on_limit": on_limit, "window_for_pace": H4_WINDOW},
                ts0, floor, tuple(notes))


def _h5_prefill(pick, ts0, edge, notes, r) -> Draw:
    limit_mb, first_byte = log_uniform(pick, *r.limit_mb), log_uniform(pick, *r.first_byte)
    prefill = first_byte / limit_mb  # s per MB
    # unscaled upload time per MB must stay TOLERANCE of the scaled prefill per MB
    floor = max(_floor_for(first_byte), LAB_S_PER_MB / (TOLERANCE * prefill))
    # the probe client's own pre-header patience is a few real seconds (runtime.client_probe)
    ts = _settle(r, ts0, floor, 4.0 / first_byte, notes, "upload time per MB vs prefill per MB",
                      "the first-byte budget stays under 4 real s (the probe client's pre-header patience)")
    on_limit = "fin" if edge != "builtin" else "rst"
    w = World(name="rand-h5-prefill", hypothesis="h5", time_scale=ts, edge=edge, prefill_s_per_mb=prefill,
              edge_policy=EdgePolicy(first_byte_timeout=first_byte, on_limit=on_limit),
              client_idle_timeout=WATCHDOG, description="drawn H5: first-byte budget over a size-dependent prefill")
    return Draw("h5-prefill", "h5", w, (Boundary("size", limit_mb * 1e6),),
                {"first_byte_timeout": first_byte, "prefill_s_per_mb": prefill, "limit_mb": limit_mb},
                ts0, floor, tuple(notes))


_FACTORIES = {"control": _control, "h1-stream": _h1_stream, "h1-idle": _h1_idle, "h1-bytetime": _h1_bytetime,
              "h1-keepalive": _h1_keepalive, "h2-nat": _h2_nat, "h3-periodic": _h3_periodic,
              "h3-poisson": _h3_poisson, "h4-stall": _h4_stall, "h5-prefill": _h5_prefill}


# -- entry points ---------------------------------------------------------------------------

def draw(rng: random.Random, family: str | None = None, edges: tuple[str, ...] = ("builtin",),
         r: Ranges = LAB) -> Draw:
    """One world: a truth (control, h1..h5) uniformly, then one of its families."""
    fams = families_for(family)
    truths = sorted({f.split("-")[0] for f in fams}, key=TRUTHS.index)
    truth = rng.choice(truths)
    fam = rng.choice([f for f in fams if f.split("-")[0] == truth])
    return draw_family(RandomPicker(rng), fam, edges, r)


def draws(n: int, seed: int, family: str | None = None, edges: tuple[str, ...] = ("builtin",)) -> list[Draw]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = draw(rng, family, edges)
        w = d.world.with_(name=f"{d.world.name}-{seed}-{i}")
        out.append(Draw(d.family, d.truth, w, d.boundaries, d.params, d.time_scale_drawn, d.time_scale_min,
                        d.notes))
    return out


def worlds(family: str | None = None, edges: tuple[str, ...] = ("builtin",)):
    """A Hypothesis strategy of Draws (shrinks through the floats drawn)."""
    from hypothesis import strategies as st

    class _HypPicker:
        def __init__(self, draw_):
            self.draw = draw_

        def uniform(self, lo: float, hi: float) -> float:
            if hi <= lo:
                return lo
            return self.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))

        def choice(self, options: tuple) -> Any:
            return self.draw(st.sampled_from(list(options)))

    @st.composite
    def _strategy(draw_):
        fam = draw_(st.sampled_from(list(families_for(family))))
        return draw_family(_HypPicker(draw_), fam, edges)

    return _strategy()


def probe_at(d: Draw, b: Boundary, factor_of_boundary: float) -> ProbeSpec:
    """A probe that puts `b.factor` at factor x the true boundary, everything else benign:
    used to check a truth against the hypothesis module's expect()."""
    x = b.value * factor_of_boundary
    if b.factor == "duration":
        return ProbeSpec(size=100_000, duration=x)
    if b.factor == "idle_gap":
        return ProbeSpec(size=100_000, duration=10, longest_idle=x)
    if b.factor == "think_time":
        return ProbeSpec(size=100_000, duration=10, think_time=x)
    if b.factor == "size":
        return ProbeSpec(size=int(x), duration=10)
    if b.factor == "size_x_duration":
        size = int(d.params["reference_mb"] * 1e6)
        return ProbeSpec(size=size, duration=x / size)
    if b.factor == "read_pace":  # x: seconds to drain one window; the engine's stream length
        return ProbeSpec(size=100_000, duration=PACE_STREAM, protocol="h2c", h2_window=H4_WINDOW,
                         read_pace=H4_WINDOW / x)
    raise ValueError(b.factor)
