"""The fast surrogate: a pure-Python event simulation of one field user's five weeks of Claude
Code on Bun in a world of the family (family.py), writing what Claude Code would log.

What it simulates, per session (one Claude Code process, one pooled connection):
turns after think times, each turn 1 + Poisson requests separated by tool runs; each
request's attempts against the world's mechanisms; Claude Code's retries (assumptions.py:
the schedule with jitter, 10 retries, a new connection after a failure); Bun's pool (idle
connections closed after 300 s, a TCP keepalive probe every 60 s idle). Per wire event,
what is logged is looked up in assumptions.ROWS -- never decided here.

The result is the list of api_error records (timestamp, retryAttempt, cause.code, gap to
the preceding session event, session-size bucket) and failure chains (recovered at n /
unrecovered), from which score.py builds the analyzer's tables. Time is local seconds from
START (the field's first day, 2026-03-17, UTC-5).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from harness.fieldlog import field as field_report
from harness.fieldlog.tables import MB

from . import assumptions as A
from .family import MECHANISMS, check, check_mechanisms

TZ = timezone(timedelta(hours=-5))  # the report's "Central, UTC-5" (§4.2)
START = datetime(2026, 3, 17, tzinfo=TZ)
DAYS = 35  # 2026-03-17 .. 2026-04-20 (§1)
BASE_BODY = 100_000  # Claude Code's own request body without history (clients/README: 100,497 B)
MAX_ERRORS = 6500  # 20x the field's 325: see simulate()
MAX_TURNS = 3000  # per session, a bound on the work a candidate can ask for
# the size ranges sampled inside each §3.5 bucket (bytes of session file)
BUCKET_RANGES = {"<1MB": (20_000, 1 * MB), "1-3MB": (1 * MB, 3 * MB), "3-6MB": (3 * MB, 6 * MB),
                 ">=6MB": (6 * MB, 12 * MB)}


@dataclass
class SimResult:
    errors: list[tuple[float, int, str, float, str]] = field(default_factory=list)
    # (ts, retryAttempt, code, gap s, size bucket of the session file)
    chains: list[tuple[int, bool]] = field(default_factory=list)  # (last retryAttempt, recovered)
    synthetic_turns: int = 0  # turns that ended in a synthetic API Error message
    turns: int = 0
    requests: int = 0
    sessions: int = 0
    sessions_by_bucket: dict[str, int] = field(default_factory=dict)
    sessions_with_errors_by_bucket: dict[str, int] = field(default_factory=dict)
    simulated_sessions: int = 0  # < sessions when the run was cut short
    truncated: bool = False


def _i0(k: float) -> float:
    return sum(((k / 2) ** j / math.factorial(j)) ** 2 for j in range(40))


def _poisson(mean: float, rng: random.Random) -> int:
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Outages:
    """Disjoint outage windows (merged), with whether each flushed the NAT."""

    def __init__(self, p: dict, bad: set[int], on: bool, bad_on: bool, rng: random.Random):
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.flush: list[bool] = []
        if not on:
            return
        horizon = (DAYS + 2) * 86400.0
        kappa, peak = p["outage_conc"], p["outage_peak_hour"]
        boost = p["bad_factor"] if bad_on else 1.0
        lam_max = p["outages_per_day"] / 86400 * math.exp(kappa) / _i0(kappa) * boost
        raw, t = [], 0.0
        while True:
            t += rng.expovariate(lam_max)
            if t >= horizon:
                break
            hour = (t % 86400) / 3600
            lam = p["outages_per_day"] / 86400 * math.exp(kappa * math.cos(2 * math.pi * (hour - peak) / 24)) \
                / _i0(kappa) * (boost if int(t // 86400) in bad else 1.0)
            if rng.random() * lam_max < lam:
                raw.append((t, t + rng.expovariate(1 / p["outage_mean_s"]), rng.random() < p["flush_p"]))
        for s, e, f in raw:  # already sorted by start
            if self.ends and s <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], e)
                self.flush[-1] = self.flush[-1] or f
            else:
                self.starts.append(s)
                self.ends.append(e)
                self.flush.append(f)

    def inside(self, t: float) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    def stall_end(self, t: float, end: float) -> float:
        """When a transfer needing [t, end) of link time ends, stalled by outages."""
        i = bisect.bisect_right(self.starts, t)
        while i < len(self.starts) and self.starts[i] < end:
            end += self.ends[i] - self.starts[i]
            i += 1
        return end

    def first_flush(self, a: float, b: float) -> float | None:
        i = bisect.bisect_right(self.starts, a)
        while i < len(self.starts) and self.starts[i] < b:
            if self.flush[i]:
                return self.starts[i]
            i += 1
        return None


def simulate(params: dict, mechanisms=MECHANISMS, seed: int = 0, scale: float = 1.0,
             sessions_by_bucket: dict[str, int] | None = None, max_errors: int = MAX_ERRORS) -> SimResult:
    """One five-week field of the world `params` with `mechanisms` on. `scale` multiplies the
    number of sessions of each size bucket (at least one per non-empty bucket). A run that
    has logged `max_errors` x scale api_errors stops at the next session (`truncated`): it is
    tens of times the field's 325 already, and its tables are those of the sessions it ran."""
    p = check(params)
    mechs = check_mechanisms(mechanisms)
    rng = random.Random(seed)
    if sessions_by_bucket is None:
        sessions_by_bucket = {b["bucket"]: b["sessions"] for b in field_report.figure("size_buckets")}
    on = {m: m in mechs for m in MECHANISMS}
    bad = set(rng.sample(range(DAYS), int(round(p["bad_days"])))) if on["bad_days"] else set()
    hours = (DAYS + 4) * 24
    slow = [rng.gauss(0, 1) for _ in range(hours)] if on["jitter"] else [0.0] * hours
    sig_f = p["sigma_fast"] if on["jitter"] else 0.0
    sig_s = p["sigma_slow"] if on["jitter"] else 0.0
    outages = _Outages(p, bad, on["outages"], on["bad_days"], rng)
    budget = p["budget_s"] if on["preheader"] else math.inf
    forget = p["forget_s"] if on["stale"] else math.inf
    sxd = p["sxd_mb_s"] if on["midstream"] else math.inf
    rate_bps = p["rate_mbit"] * 1e6 / 8
    cap = p["body_cap_mb"] * 1e6
    res = SimResult()
    plan = []
    for bucket, n in sessions_by_bucket.items():
        k = max(1, round(n * scale)) if n else 0
        res.sessions_by_bucket[bucket] = k
        res.sessions_with_errors_by_bucket[bucket] = 0
        lo, hi = BUCKET_RANGES[bucket]
        plan += [(bucket, math.exp(rng.uniform(math.log(lo), math.log(hi)))) for _ in range(k)]
    rng.shuffle(plan)  # a run cut short (max_errors) is then a random subset of the sessions
    res.sessions = len(plan)
    rows = A.ROWS
    limit = max_errors * max(scale, 0.05)
    for bucket, final in plan:
        if len(res.errors) > limit:  # far from any field-like volume: stop, extrapolate
            res.truncated = True
            break
        res.simulated_sessions += 1
        day = int(DAYS * rng.random() ** (1 / (1 + p["recency"])))
        peak = p["peak_a"] if rng.random() < p["peak_w"] else p["peak_b"]
        t = day * 86400.0 + ((peak + rng.gauss(0, 2.5)) % 24) * 3600
        turns = min(MAX_TURNS, max(1, math.ceil(final / (p["turn_kb"] * 1000))))
        grow = final / turns
        size = 0.0
        last_active: float | None = None  # the pooled connection's last activity
        errors_before = len(res.errors)
        for turn in range(turns):
            if turn:
                t += rng.lognormvariate(math.log(p["think_s"]), p["think_sigma"])
            res.turns += 1
            prev_event = t  # the user record
            body = BASE_BODY + min(p["body_ratio"] * size, cap)
            body_mb = body / 1e6
            died = False
            for j in range(1 + _poisson(p["tools_per_turn"], rng)):
                if j:
                    t += rng.lognormvariate(math.log(p["tool_s"]), 1.0)
                    prev_event = t  # the tool_result record
                res.requests += 1
                n = 0  # api_error records of this request's chain so far
                while True:
                    # the wire event of this attempt, and when it happens
                    event, t_fail, code_row = None, 0.0, None
                    reuse = last_active is not None and t - last_active <= A.POOL_IDLE_S
                    if reuse:
                        lost = last_active + forget if forget < A.KEEPALIVE_S else math.inf
                        fl = outages.first_flush(last_active, t) if outages.starts else None
                        if fl is not None:
                            lost = min(lost, fl)
                        if lost < t:
                            probe = last_active + A.KEEPALIVE_S * math.ceil((lost - last_active) / A.KEEPALIVE_S)
                            if probe >= t:  # no keepalive noticed it: the first send meets the RST
                                event, t_fail = "stale_pooled_reuse", t + A.RESET_RTT_S
                            # else: the probe's RST closed it; this attempt opens a new connection
                    if event is None and outages.starts and outages.inside(t):
                        event, t_fail = "link_down_new_request", t + A.RESET_RTT_S
                    t_headers = t
                    if event is None:
                        jit = math.exp(sig_f * rng.gauss(0, 1) + sig_s * slow[min(hours - 1, int(t // 3600))]) \
                            if sig_f or sig_s else 1.0
                        rate = rate_bps * jit / (p["bad_factor"] if int(t // 86400) in bad else 1.0)
                        t_headers = t + body / rate + p["prefill_s_per_mb"] * body_mb + 0.3
                        if outages.starts:
                            t_headers = outages.stall_end(t, t_headers)
                        kill = t + sxd / body_mb
                        if t_headers - t > budget or kill <= t_headers:
                            event = "reset_before_headers"
                            t_fail = t + min(budget, kill - t)
                    if event is None:  # headers: the stream runs (or is killed mid-way)
                        answer = rng.lognormvariate(math.log(p["answer_s"]), 0.8)
                        end = t_headers + answer
                        if kill < end and rows["reset_mid_stream"].fallback:
                            # Bun: the same body again, non-streaming (headers after the whole
                            # answer), on a new connection, with no record either way
                            start = kill
                            end = start + body / rate + p["prefill_s_per_mb"] * body_mb + 0.3 + answer
                            kill = start + sxd / body_mb
                            if end - start > budget:  # its headers come at the end: the first-byte budget
                                kill = min(kill, start + budget)
                        if kill < end:
                            t, last_active = kill, None
                            if n:
                                res.chains.append((n, False))
                            res.synthetic_turns += 1
                            died = True
                        else:
                            t = last_active = prev_event = end
                            if n:
                                res.chains.append((n, True))
                        break
                    code_row = rows[event]
                    last_active = None  # the failed connection is gone; a retry opens a new one
                    if code_row.api_error and code_row.retries and n < A.MAX_RETRIES:
                        n += 1
                        res.errors.append((t_fail, n, code_row.code, t_fail - prev_event, bucket))
                        prev_event = t_fail
                        t = t_fail + A.retry_delay(n, rng)
                        continue
                    t = t_fail
                    if n:
                        res.chains.append((n, False))
                    res.synthetic_turns += 1
                    died = True
                    break
                if died:
                    break
            size += grow
        if len(res.errors) > errors_before:
            res.sessions_with_errors_by_bucket[bucket] += 1
    return res


def utc_of(ts: float) -> datetime:
    return (START + timedelta(seconds=ts)).astimezone(UTC)


def local_hour(ts: float) -> int:
    return (START + timedelta(seconds=ts)).hour
