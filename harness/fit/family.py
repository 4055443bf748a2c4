"""The world family the fit searches: mechanisms that can be mixed, each with its parameters,
plus a user model. Everything is in field units (seconds, Mbit/s, bytes).

Mechanisms (each can be switched off; `ablate` removes one):

    preheader   an edge / first-byte budget: a request whose upload (body / access rate) plus
                prefill (s per MB) takes longer than `budget_s` is reset before response
                headers, at `budget_s` (H5, H1's pre-header half)
    jitter      the access rate varies per attempt (lognormal `sigma_fast`) and per hour
                (`sigma_slow`), so the same request passes on one try and fails on the next
    bad_days    `bad_days` days on which the access rate is divided by `bad_factor` and
                outages are `bad_factor` times as frequent (the report's bad mornings)
    stale       a NAT / middlebox that forgets a flow idle `forget_s`: a pooled connection
                reused after that, before Bun's keepalive notices, resets on first send (H2)
    midstream   a size x duration budget: a stream is killed once body MB x seconds passes
                `sxd_mb_s` (H1); Claude Code logs no api_error for it (assumptions.py)
    outages     access-link outages, Poisson with a daily peak (`outage_peak_hour`,
                `outage_conc`), mean `outage_mean_s`; a request started inside one fails with
                ENETUNREACH; one in its pre-header phase stalls (and may pass the budget);
                with probability `flush_p` an outage flushes the NAT's mappings (H3)

User model (always on): session sizes follow the field's own size-bucket table (§3.5
sessions on disk, an input, not a target); a session grows `turn_kb` per turn; a turn is
1 + Poisson(`tools_per_turn`) requests separated by tool runs (`tool_s`); answers stream
`answer_s` (lognormal, sigma 0.8); think time between turns is lognormal (`think_s`,
`think_sigma`); request body = Claude Code's base + min(`body_ratio` x session file,
`body_cap_mb`); sessions start later in the five weeks with `recency` and at a local hour
drawn from two daily peaks (`peak_a`, `peak_b`, weight `peak_w`, width 2.5 h).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from netem.errors import ConfigError

MECHANISMS = ("preheader", "jitter", "bad_days", "stale", "midstream", "outages")


@dataclass(frozen=True)
class Param:
    name: str
    lo: float
    hi: float
    log: bool
    group: str  # a mechanism, or "user" / "link"
    unit: str

    def value(self, u: float) -> float:
        u = min(1.0, max(0.0, u))
        if self.log:
            v = math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        else:
            v = self.lo + u * (self.hi - self.lo)
        return min(self.hi, max(self.lo, v))  # rounding must not leave the range

    def unit_of(self, v: float) -> float:
        if self.log:
            return (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        return (v - self.lo) / (self.hi - self.lo)


PARAMS: tuple[Param, ...] = (
    # the access link (used by preheader, jitter, bad_days, outages)
    Param("rate_mbit", 2.0, 200.0, True, "link", "Mbit/s upload"),
    Param("sigma_fast", 0.02, 1.5, True, "jitter", "lognormal sigma per attempt"),
    Param("sigma_slow", 0.02, 1.5, True, "jitter", "lognormal sigma per hour"),
    Param("bad_days", 0.0, 6.0, False, "bad_days", "days (rounded)"),
    Param("bad_factor", 1.0, 30.0, True, "bad_days", "rate divisor / outage multiplier"),
    Param("budget_s", 10.0, 300.0, True, "preheader", "s to response headers"),
    Param("prefill_s_per_mb", 0.1, 30.0, True, "preheader", "s per MB of body"),
    Param("forget_s", 3.0, 600.0, True, "stale", "s idle before the flow is forgotten"),
    Param("sxd_mb_s", 20.0, 20000.0, True, "midstream", "MB x s of stream"),
    Param("outages_per_day", 0.05, 30.0, True, "outages", "per day (base)"),
    Param("outage_mean_s", 2.0, 900.0, True, "outages", "s"),
    Param("outage_peak_hour", 0.0, 24.0, False, "outages", "local hour"),
    Param("outage_conc", 0.0, 6.0, False, "outages", "von Mises kappa of the daily peak"),
    Param("flush_p", 0.0, 1.0, False, "outages", "P(an outage flushes the NAT)"),
    # the user
    Param("think_s", 5.0, 1800.0, True, "user", "s, median think time"),
    Param("think_sigma", 0.05, 2.5, False, "user", "lognormal sigma"),
    Param("turn_kb", 20.0, 400.0, True, "user", "KB the session grows per turn"),
    Param("tools_per_turn", 0.0, 10.0, False, "user", "mean tool round trips per turn"),
    Param("tool_s", 0.5, 120.0, True, "user", "s, median tool run"),
    Param("answer_s", 2.0, 300.0, True, "user", "s, median streamed answer"),
    Param("body_ratio", 0.1, 1.5, True, "user", "request body per session-file byte"),
    Param("body_cap_mb", 0.3, 15.0, True, "user", "largest request body, MB"),
    Param("recency", 0.0, 6.0, False, "user", "session start skew to the last weeks"),
    Param("peak_a", 0.0, 24.0, False, "user", "local hour"),
    Param("peak_b", 0.0, 24.0, False, "user", "local hour"),
    Param("peak_w", 0.0, 1.0, False, "user", "weight of peak_a"),
)
BY_NAME = {p.name: p for p in PARAMS}
NAMES = tuple(p.name for p in PARAMS)


def check(params: dict) -> dict[str, float]:
    """A complete, in-range parameter dict (one line per bad value)."""
    out = {}
    for p in PARAMS:
        if p.name not in params:
            raise ConfigError(f"fit.{p.name}", None, f"a number in [{p.lo:g}, {p.hi:g}] {p.unit}")
        v = params[p.name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not p.lo <= v <= p.hi:
            raise ConfigError(f"fit.{p.name}", v, f"a number in [{p.lo:g}, {p.hi:g}] {p.unit}")
        out[p.name] = float(v)
    for k in params:
        if k not in BY_NAME:
            raise ConfigError(f"fit.{k}", params[k], "one of " + ", ".join(NAMES))
    return out


def check_mechanisms(mechs) -> frozenset[str]:
    mechs = frozenset(mechs)
    bad = mechs - set(MECHANISMS)
    if bad:
        raise ConfigError("mechanisms", sorted(bad), "a subset of " + ", ".join(MECHANISMS))
    return mechs


def from_unit(u: list[float]) -> dict[str, float]:
    return {p.name: p.value(x) for p, x in zip(PARAMS, u, strict=True)}


def to_unit(params: dict[str, float]) -> list[float]:
    return [min(1.0, max(0.0, p.unit_of(params[p.name]))) for p in PARAMS]


def latin_hypercube(n: int, rng: random.Random) -> list[list[float]]:
    """n points in the unit cube, one per stratum in every dimension (McKay et al. 1979)."""
    cols = []
    for _ in PARAMS:
        strata = [(i + rng.random()) / n for i in range(n)]
        rng.shuffle(strata)
        cols.append(strata)
    return [[cols[d][i] for d in range(len(PARAMS))] for i in range(n)]


def describe(params: dict[str, float], mechs: frozenset[str]) -> str:
    lines = []
    for group in ("link", *MECHANISMS, "user"):
        ps = [p for p in PARAMS if p.group == group]
        if not ps:
            continue
        on = group in ("link", "user") or group in mechs
        vals = ", ".join(f"{p.name}={params[p.name]:.3g}" for p in ps)
        lines.append(f"  {group:10s} {'on ' if on else 'off'} {vals}")
    return "\n".join(lines)
