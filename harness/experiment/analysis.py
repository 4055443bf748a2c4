"""Observations computed from the recorded history alone (never from what a target claims).

Each record of the search carries in `probe`: `factor`, `level` (target units), `treatment`
(None | keepalive | protocol | canary), `role` (base | ladder | bisect | treatment |
heartbeat | soak: exposure streams, counted for coincidences only | superseded: a ladder
run again at another size, kept for the map, not judged), `t_wall_start`, `t_wall_end` and
`unit_s` (real seconds per target second). From them:

- outcome classes: `completed`; `answered` (an HTTP answer with headers -- 413/429/529/5xx --
  or an SSE `error` event: reported, never a connection failure); `failure` (the rest: RST,
  FIN, RST_STREAM, GOAWAY, truncation, timeouts, connect errors);
- per factor, the levels and the **boundary**: the failing suffix of the ladder (every level
  from there up fails at least half the time) and the passing level below it;
- the size x duration **interaction**: the same durations at a big and a small size;
- treatments at the failing levels against the untreated probes at the same levels;
- canaries beside failing probes against canaries beside probes that completed;
- **coincidences**: failed probes during which a heartbeat (a tiny fresh request) failed too.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from .factors import FACTORS, PACE_STREAM, UNITS, WINDOW

ANSWERED = ("http_error", "sse_error")
STREAMING = ("size", "duration", "size_x_duration")  # factors whose probes stream all their life
BEFORE_HEADERS = ("reset_before_headers", "fin_before_headers", "connect_error")


def outcome_class(record: dict) -> str:
    kind = record.get("outcome")
    if kind == "completed":
        return "completed"
    if kind in ANSWERED:
        return "answered"
    return "failure"


def path_down(heartbeat: dict) -> bool:
    """A heartbeat that saw the path down: it failed, or its answer was held longer than the
    silence its own watchdog allows a stream (idle_timeout, target units). A tiny fresh
    request started inside an outage shorter than its connect-and-headers deadline completes
    when the path comes back: an external outage of ~5 s killed 20 streams (their 5 s
    watchdog) while the heartbeats it held answered after 4.1, 2.1 and 1.1 s, all at once.
    (Measured beside it: the heartbeats of 50 drawn lab worlds and 12 external targets
    without outages answered in at most 0.92 s against such watchdogs of >= 1.25 s.)"""
    if outcome_class(heartbeat) == "failure":
        return True
    p = heartbeat.get("probe", {})
    held = heartbeat.get("t_headers")
    watchdog = p.get("idle_timeout")
    return held is not None and watchdog is not None and held >= watchdog * (p.get("unit_s") or 1.0)


def _short_stream(r: dict) -> bool:
    """A target that ignores the asked-for length (a real API stops when the model is done):
    a stream far shorter than its level says nothing about that level."""
    p = r["probe"]
    want = (p.get("duration") or 0.0) + (p.get("longest_idle") or 0.0)
    unit = p.get("unit_s") or 1.0
    if p.get("factor") not in ("duration", "size_x_duration", "idle_gap") or want * unit < 1.0:
        return False  # under a real second the client's own scheduling blurs the measurement
    got = ((r.get("t_total") or 0.0) - (r.get("t_headers") or 0.0)) / unit
    return got < 0.5 * want


def kind_of(record: dict) -> str:
    """The kind the engine reasons with: timeouts split by phase (before or after headers)."""
    kind = record.get("outcome", "")
    if kind == "timeout":
        return "timeout_headers" if record.get("t_headers") is None else "timeout_body"
    return kind


@dataclass
class Level:
    value: float
    n: int = 0  # probes that completed or failed (answers are not counted)
    failures: int = 0
    answered: int = 0
    kinds: Counter = field(default_factory=Counter)
    t_fail: list[float] = field(default_factory=list)  # target seconds from request start
    canary_n: int = 0
    canary_dead: int = 0
    unachieved: int = 0  # completed, but the stream came out far shorter than asked

    @property
    def rate(self) -> float:
        return self.failures / self.n if self.n else 0.0

    @property
    def failing(self) -> bool:
        return self.n > 0 and self.rate >= 0.5

    def add(self, r: dict) -> None:
        cls = outcome_class(r)
        if cls == "answered":
            self.answered += 1
            return
        if cls == "completed" and _short_stream(r):
            self.unachieved += 1
            return
        self.n += 1
        if cls == "failure":
            self.failures += 1
            self.kinds[kind_of(r)] += 1
            if r.get("t_failure") is not None:
                self.t_fail.append(r["t_failure"] / (r["probe"].get("unit_s") or 1.0))
        canary = r["probe"].get("canary")
        if isinstance(canary, dict):
            self.canary_n += 1
            self.canary_dead += 0 if canary.get("alive") else 1

    def text(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        extra = f", {self.answered} answered" if self.answered else ""
        return f"{self.failures}/{self.n} failed" + (f" ({kinds})" if kinds else "") + extra


@dataclass
class Ladder:
    """All levels of one factor (ladder and bisection probes), with or without a treatment."""

    factor: str
    treatment: str | None = None
    levels: dict[float, Level] = field(default_factory=dict)

    excluded: dict[float, str] = field(default_factory=dict)  # level -> why it does not count
    records: list[dict] = field(default_factory=list, repr=False)  # the probes added, as recorded

    def add(self, r: dict) -> None:
        v = float(r["probe"]["level"])
        self.levels.setdefault(v, Level(v)).add(r)
        self.records.append(r)

    def exclude(self, value: float, why: str) -> None:
        self.levels.pop(value, None)
        self.excluded[value] = why

    def sorted(self) -> list[Level]:
        return [lv for _, lv in sorted(self.levels.items()) if lv.n]

    @property
    def covered(self) -> tuple[float, float] | None:
        lv = self.sorted()
        return (lv[0].value, lv[-1].value) if lv else None

    def boundary(self) -> tuple[float | None, float] | None:
        """(last passing level, first level of the failing suffix); lo None: every level
        fails (the limit is below the ladder's floor); None: the top level does not fail."""
        lv = self.sorted()
        if not lv or not lv[-1].failing:
            return None
        i = len(lv) - 1
        while i > 0 and lv[i - 1].failing:
            i -= 1
        return (lv[i - 1].value if i > 0 else None, lv[i].value)

    def split(self) -> tuple[list[Level], list[Level]]:
        """(levels below, levels at or above) the boundary; without one, lower and upper half."""
        lv = self.sorted()
        b = self.boundary()
        if b is not None and b[0] is not None:
            return [x for x in lv if x.value <= b[0]], [x for x in lv if x.value >= b[1]]
        half = len(lv) // 2
        return lv[:half], lv[half:]

    def failing_levels(self) -> list[float]:
        b = self.boundary()
        return [] if b is None else [x.value for x in self.sorted() if x.value >= b[1]]


def pooled(levels: list[Level]) -> Level:
    out = Level(float("nan"))
    for lv in levels:
        out.n += lv.n
        out.failures += lv.failures
        out.answered += lv.answered
        out.kinds.update(lv.kinds)
        out.t_fail += lv.t_fail
        out.canary_n += lv.canary_n
        out.canary_dead += lv.canary_dead
    return out


@dataclass
class History:
    """Everything the judge needs, computed from one target's records."""

    ladders: dict[tuple[str, str | None], Ladder]
    base: Level
    base_h2c: Level
    heartbeats: list[dict]
    failures: list[dict]  # failed non-heartbeat probes
    records: list[dict]

    def ladder(self, factor: str, treatment: str | None = None) -> Ladder | None:
        return self.ladders.get((factor, treatment))

    @property
    def h2c_unsupported(self) -> bool:
        """The target does not speak h2c: every h2c base probe failed before headers while
        HTTP/1.1 base probes completed -- a property of the target, not a failure."""
        b = self.base_h2c
        before = sum(v for k, v in b.kinds.items() if k in BEFORE_HEADERS or k == "timeout_headers")
        return b.n > 0 and b.failures == b.n and before == b.failures and self.base.n > 0 and not self.base.failing

    def heartbeat_period(self) -> float:
        """The median gap between heartbeat starts (real s); 0 with fewer than two."""
        return self._period

    @cached_property
    def _period(self) -> float:
        every = sorted(h["probe"].get("t_wall_start", 0.0) for h in self.heartbeats)
        gaps = sorted(b - a for a, b in zip(every, every[1:], strict=False))
        return gaps[len(gaps) // 2] if gaps else 0.0

    def _life(self, r: dict) -> tuple[float, float] | None:
        """(wall start, wall moment it ended or failed) of a probe; None when not recorded."""
        t0, end = r["probe"].get("t_wall_start"), r["probe"].get("t_wall_end")
        if t0 is None or end is None:
            return None
        if r.get("t_failure") is not None:
            end -= max(0.0, (r.get("t_total") or 0.0) - r["t_failure"])  # when it failed
        return t0, end

    def beside_path_down(self, r: dict) -> bool:
        """Whether a heartbeat saw the path down around the probe's life (widened by one
        heartbeat period on each side: a probe that could not even connect failed at its start,
        and the heartbeats nearest that moment are the ones that saw the same path)."""
        return self._near(self._heartbeat_starts[1], r)

    def watched(self, r: dict) -> bool:
        """Whether any heartbeat ran around the probe's life (the same window): a failure no
        heartbeat ran beside says nothing about whether the path was down."""
        return self._near(self._heartbeat_starts[0], r)

    def _near(self, starts: list[float], r: dict) -> bool:
        life = self._life(r)
        if life is None or not starts:
            return False
        period = self.heartbeat_period()
        i = bisect.bisect_left(starts, life[0] - period)
        return i < len(starts) and starts[i] <= life[1] + period

    @cached_property
    def _heartbeat_starts(self) -> tuple[list[float], list[float]]:
        """Sorted wall starts of (every heartbeat, the heartbeats that saw the path down)."""
        every = sorted(h["probe"].get("t_wall_start", 0.0) for h in self.heartbeats)
        down = sorted(h["probe"].get("t_wall_start", 0.0) for h in self.heartbeats if path_down(h))
        return every, down

    def coincidences(self) -> tuple[int, int, int, int]:
        """(failed probes a heartbeat ran beside, of which a heartbeat saw the path down around
        their life, heartbeats, heartbeats that saw the path down). Failures before the
        heartbeats start (the first stage's) or between two far-apart heartbeats are left out:
        an external outage world's 10 first-stage failures counted as "the path stayed up"."""
        watched = [r for r in self.failures if r.get("t_failure") is not None and self.watched(r)]
        hit = sum(1 for r in watched if self.beside_path_down(r))
        return len(watched), hit, len(self.heartbeats), len(self._heartbeat_starts[1])

    def arm(self, factor: str, treatment: str | None, levels: list[float]) -> tuple[Level, int]:
        """One arm of a treatment comparison at `levels`, from the probes that ran while the
        path was up as far as the heartbeats saw: (its pooled level, how many were left out).
        Both arms lose the probes beside a path outage alike, so an outage that happens to
        meet one arm's wave and not the other's does not read as the treatment's effect (an
        outage world's h2c arm started after the control wave's outage: "protocol removes
        failures", 8/8 vs 1/8)."""
        lad = self.ladder(factor, treatment)
        keep, out = Level(float("nan")), 0
        if lad is None:
            return keep, out
        wanted = {v for v in levels if v in lad.levels}  # excluded levels are popped from lad.levels
        for r in lad.records:
            if float(r["probe"]["level"]) not in wanted:
                continue
            if outcome_class(r) != "answered" and self.beside_path_down(r):
                out += 1
                continue
            keep.add(r)
        return keep, out

    def _lives(self) -> list[tuple[float, float, float]]:
        """(start, end, real s per target s) of every probe that streams all its life, by start:
        the ones an outage longer than the watchdog kills. A probe in a planned silence (mid-
        stream, between pooled requests, a slow reader's wait for window credit) has nothing in
        flight and outlives an outage: a read-pace probe lived through a self-check world's
        24 s outage that the heartbeats saw."""
        out = []
        for r in self.records:
            p = r.get("probe", {})
            if p.get("role") in ("heartbeat", None) or p.get("t_wall_start") is None or p.get("t_wall_end") is None:
                continue
            if p.get("factor") not in STREAMING and p.get("role") not in ("base", "soak"):
                continue
            out.append((p["t_wall_start"], p["t_wall_end"], p.get("unit_s") or 1.0))
        return sorted(out)

    def covered(self) -> tuple[float, float]:
        """(real s, target s) during which at least one probe was alive: an outage is an event
        in time, and ten connections through the same second meet it once, not ten times."""
        real = target = 0.0
        end = -float("inf")
        for a, b, unit in self._lives():
            lo = max(a, end)
            if b > lo:
                real += b - lo
                target += (b - lo) / unit
            end = max(end, b)
        return real, target

    def unwatched_outages(self) -> list[float]:
        """Wall starts of the episodes (runs of heartbeats that saw the path down, a gap of more than two
        heartbeat periods between episodes) in which the path went down while no probe was
        alive: outages the heartbeats saw and no stream met -- untested, not absent."""
        lives = self._lives()
        period = self.heartbeat_period()
        episodes: list[float] = []
        last = -float("inf")
        for h in sorted(self.heartbeats, key=lambda h: h["probe"].get("t_wall_start", 0.0)):
            if not path_down(h):
                continue
            a, b = h["probe"].get("t_wall_start", 0.0), h["probe"].get("t_wall_end", 0.0)
            if any(s <= b and e >= a for s, e, _ in lives):
                continue  # a probe was alive through it: it met that outage (or there was none)
            if a - last > 2 * period:
                episodes.append(a)
            last = a
        return episodes


def history(records: list[dict]) -> History:
    ladders: dict[tuple[str, str | None], Ladder] = {}
    base, base_h2c = Level(0.0), Level(0.0)
    heartbeats, failures = [], []
    for r in records:
        p = r.get("probe", {})
        role = p.get("role")
        if role == "heartbeat":
            heartbeats.append(r)
            continue
        if role in (None, "calibrate", "superseded"):
            continue
        if outcome_class(r) == "failure":
            failures.append(r)
        if role == "soak":  # exposure for the outage hypothesis: coincidences only
            continue
        if role == "base":
            (base_h2c if p.get("protocol") == "h2c" else base).add(r)
            continue
        factor = p.get("factor")
        if factor in FACTORS:
            key = (factor, p.get("treatment"))
            ladders.setdefault(key, Ladder(factor, p.get("treatment"))).add(r)
    _exclude_slow_transfers(ladders, records)
    return History(ladders, base, base_h2c, heartbeats, failures, records)


def _exclude_slow_transfers(ladders: dict, records: list[dict]) -> None:
    """A slow reader makes its stream last body / pace seconds: read-pace levels whose
    transfer would pass half of a duration limit found measure that limit, not a stall."""
    dur = ladders.get(("duration", None))
    b = dur.boundary() if dur else None
    if b is None:
        return
    limit = b[0] if b[0] is not None else b[1]
    # response bytes per stream second, from the base probes, times a read-pace probe's stream
    rates = sorted((r.get("bytes_received") or 0) / max(r["probe"].get("duration") or 1.0, 1.0) for r in records
                   if r["probe"].get("role") == "base" and r.get("outcome") == "completed") or [600.0]
    body_bytes = int(rates[len(rates) // 2] * PACE_STREAM)
    for (factor, _), lad in ladders.items():
        if factor != "read_pace":
            continue
        for v in list(lad.levels):
            if body_bytes * v / WINDOW > limit / 2:
                lad.exclude(v, f"a {body_bytes} B response read at {WINDOW / v:.3g} B/s lasts longer than half "
                               f"the duration limit ({limit:.3g} s)")


ELAPSED = ("duration", "size_x_duration")  # boundaries in elapsed time: measured, not asked


def _elapsed_interval(own: list[dict], first_failing: float) -> tuple[float, float] | None:
    """An elapsed-time boundary from what the streams did rather than what they were asked.
    A budget B is longer than every stream that completed -- at least its time from response
    headers to end, which the edge's clock saw whole wherever it started it -- and no longer
    than the first failure past that at a failing level (the client's clock started before the
    edge's and sees the reset after it). A loaded machine stretches a stream asked for 108 s
    to 120 s: the asked levels then put a 120 s budget at 103-108 s; an external target's
    streams come out shorter or longer than their calibrated max_tokens asked. None when either
    side is missing or they cross (the failures are not an elapsed budget)."""
    done = [((r.get("t_total") or 0.0) - (r.get("t_headers") or 0.0)) / (r["probe"].get("unit_s") or 1.0)
            for r in own if outcome_class(r) == "completed" and not _short_stream(r)]
    if not done:
        return None
    lo = max(done)
    fails = [r["t_failure"] / (r["probe"].get("unit_s") or 1.0) for r in own
             if outcome_class(r) == "failure" and r.get("t_failure") is not None
             and float(r["probe"]["level"]) >= first_failing]
    hi = min((t for t in fails if t >= lo), default=None)
    return (lo, hi) if hi is not None and hi > lo else None


def boundaries(h: History) -> list[dict]:
    """Each untreated ladder's boundary, with its interval and the failures' signature."""
    out = []
    for (factor, treatment), lad in sorted(h.ladders.items(), key=lambda kv: FACTORS.index(kv[0][0])):
        if treatment is not None or lad.covered is None:
            continue
        b = lad.boundary()
        lo_cov, hi_cov = lad.covered
        entry = {"factor": factor, "unit": UNITS[factor], "covered": [lo_cov, hi_cov]}
        own = [r for r in h.records if r["probe"].get("factor") == factor and not r["probe"].get("treatment")
               and r["probe"].get("role") in ("ladder", "bisect")]
        if factor == "size_x_duration":  # the request size the ladder ran at (bytes)
            sizes = sorted(r["probe"].get("size") or 0 for r in own)
            entry["size"] = sizes[len(sizes) // 2] if sizes else None
        answers = [r for r in own if outcome_class(r) == "answered"]
        if answers:  # HTTP answers (413/429/5xx, SSE error): not failures, but where they start is news
            levels = sorted(r["probe"]["level"] for r in answers)
            kinds = Counter(f"{r.get('outcome')} {r.get('status') or r.get('error_type') or ''}".strip()
                            for r in answers)
            entry["answered"] = {"from": levels[0], "to": levels[-1], "n": len(answers), "kinds": dict(kinds)}
        if lad.excluded:  # levels probed but not judged, each with its reason
            entry["excluded"] = [{"level": v, "why": why} for v, why in sorted(lad.excluded.items())]
        if b is None:
            entry.update(lo=hi_cov, hi=None, found=False)
        else:
            above = pooled([x for x in lad.sorted() if x.value >= b[1]])
            before = sum(v for k, v in above.kinds.items() if k in BEFORE_HEADERS or k == "timeout_headers")
            entry.update(lo=b[0], hi=b[1], found=True, kinds=dict(above.kinds),
                         before_headers=before, failures=above.failures, n=above.n,
                         t_fail_median=sorted(above.t_fail)[len(above.t_fail) // 2] if above.t_fail else None)
            measured = _elapsed_interval(own, b[1]) if factor in ELAPSED else None
            if measured is not None:
                entry.update(lo=measured[0], hi=measured[1], asked=[b[0], b[1]], measured=True)
        out.append(entry)
    return out
