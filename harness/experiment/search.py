"""The search: ladders, bisection where the outcome flips, treatments at the failing levels.

    stage 0  base probes over HTTP/1.1 and h2c (does the target speak h2c?) and the size
             ladder (short streams); heartbeats start and run until the end (tiny fresh
             requests: does the path itself go down?)
    stage 1  every time ladder at once, every level at once (each probe is its own
             connection): duration, size_x_duration (at the biggest size that passed),
             idle_gap, think_time, read_pace -- `repeats` probes per level, `top_repeats` at
             the two highest levels (where "no limit up to here" is decided)
    stage 2  bisection of every flip (geometric midpoints, `bisect_steps` times)
    stage 3  treatments at each ladder's failing levels, clearly past the boundary (and
             canaries at its lowest level): keepalive well below the boundary, the other
             protocol, an idle canary

Ambiguous levels (some but not most probes failed) get more repeats, up to `max_repeats`:
a sequential design -- a level is decided as soon as it is decided.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from harness.worlds.model import ProbeSpec

from .analysis import history
from .factors import SIZES, Ranges, base, heartbeat, spec_for, treat


@dataclass
class Settings:
    repeats: int = 2
    top_repeats: int = 4
    max_repeats: int = 6
    bisect_steps: int = 4  # at most; each flip is narrowed until its ratio is under `resolution`
    bisect_points: int = 3  # interior points probed at once per step
    resolution: float = 1.12
    treatment_repeats: int = 4
    stagger: float = 1.0  # real seconds over which a batch's starts are spread (seeded)
    parallel: int = 32  # probes at once (threads of one process: more would distort their timing)
    heartbeat_period: float | None = None  # target seconds; default the watchdog / 4
    seed: int = 0
    stop: threading.Event | None = None  # set by whoever saw Ctrl-C: every batch stops waiting
    upload_rate: float = 40e6  # request bytes per real second the probes' starts may add up to
    # ... and all the searches of this process together (worlds searched at once share one
    # machine): without it, 5 worlds starting together each sent their ladder's first ~100 MB
    # in the first second, and a 16 KB probe in one of them took 12 s (a 2.4 s budget)
    machine_upload_rate: float | None = 80e6  # None: no machine-wide pacing


SOAK_STREAMS = 4  # fresh streams per soak wave (beside the heartbeats)
SOAK_STREAM = 16  # a soak stream's length, at most, in base streams
FLOOR_OCTAVES = 3  # how far below its floor a ladder that fails everywhere is followed


class Search:
    """Runs the whole adaptive plan against a target; `records` is the history."""

    def __init__(self, target, settings: Settings | None = None, progress: Callable | None = None):
        self.t = target
        self.s = settings or Settings()
        self.r: Ranges = target.ranges
        self.progress = progress
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._rng = random.Random(self.s.seed)
        self._pool = ThreadPoolExecutor(max_workers=self.s.parallel)
        self._hb_pool = ThreadPoolExecutor(max_workers=4)  # heartbeats never queue behind probes
        self._stop = self.s.stop or threading.Event()
        self._seed = 0
        # a target without a network (the simulated one) says so with upload_rate = None
        rate = getattr(target, "upload_rate", self.s.upload_rate)
        self._uploads = [Bucket(rate), machine_bucket(self.s.machine_upload_rate if rate is not None else None)]

    # -- running probes ---------------------------------------------------------------------

    def _one(self, spec: ProbeSpec, tags: dict, delay: float) -> dict:
        time.sleep(delay)
        if tags.get("role") != "heartbeat":
            # big uploads start at most `upload_rate` bytes per second: a ladder's 32 MB probes
            # all at once (and several worlds at once) would jam this machine's Python edge and
            # origin and time out on their own deadlines -- failures of the lab, not the target
            for bucket in self._uploads:
                bucket.take(spec.size, self._stop)
        if self._stop.is_set() and tags.get("role") != "heartbeat":
            raise KeyboardInterrupt
        t0 = time.time()
        rec = self.t.probe(spec)
        rec["probe"].update(tags, t_wall_start=t0, t_wall_end=time.time(), unit_s=self.t.unit_s)
        rec["probe"]["arm"] = _arm(tags)
        with self._lock:
            self.records.append(rec)
        if self.progress:
            self.progress(rec)
        return rec

    def batch(self, jobs: list[tuple[ProbeSpec, dict]]) -> list[dict]:
        """Every job at once (starts spread over `stagger` seconds); waits in short slices so
        Ctrl-C is seen."""
        from harness.run import results

        futures = []
        # longest first: the long probes start at once, the short ones fill in around them;
        # among equally long ones, the k-th probe of every arm goes before the (k+1)-th of
        # any: a batch bigger than the pool runs in waves, and a treatment compared with its
        # untreated controls must meet the same waves (an outage world's h3 treatment batch
        # had put every control in the first wave and the h2c arm in a later one, after the
        # outage: "protocol removes failures", 8/8 vs 2/8)
        # A treatment and its controls share their level's place in the order (the longest of
        # them): the h2c-less read-pace arm has no window to wait for, and sorted by its own
        # length it started a wave after its controls
        rank: Counter = Counter()
        longest: dict[str, float] = {}
        for spec, tags in jobs:
            longest[_group(tags)] = max(longest.get(_group(tags), 0.0), _expected_seconds(spec))
        order = []
        for spec, tags in jobs:
            order.append((-longest[_group(tags)], rank[_arm(tags)], spec, tags))
            rank[_arm(tags)] += 1
        for _, _, spec, tags in sorted(order, key=lambda o: o[:2]):
            if not self.t.affordable(spec):
                continue
            self._seed += 1
            futures.append(self._pool.submit(self._one, replace(spec, seed=self._seed), tags,
                                             self._rng.uniform(0, self.s.stagger)))
        try:
            return results(futures, self._stop)
        except BaseException:
            self._stop.set()
            raise

    def level_jobs(self, factor: str, level: float, n: int, role: str, spec: ProbeSpec | None = None,
                   treatment: str | None = None) -> list[tuple[ProbeSpec, dict]]:
        spec = spec or spec_for(factor, level, self.r, self.big_size)
        tags = {"factor": factor, "level": level, "treatment": treatment, "role": role}
        return [(spec, tags)] * n

    # -- heartbeats ---------------------------------------------------------------------------

    def _heartbeats(self) -> None:
        period = (self.s.heartbeat_period or self.r.watchdog / 4) * self.t.unit_s
        period = max(0.25, period)
        spec = heartbeat(self.r)
        running: list = []
        while not self._done.wait(period):
            running = [f for f in running if not f.done()]
            if len(running) < 8:  # a dead path must not pile up heartbeats
                running.append(self._hb_pool.submit(self._one, spec, {"role": "heartbeat"}, 0.0))

    # -- the plan -----------------------------------------------------------------------------

    big_size = SIZES[-1]

    def run(self) -> list[dict]:
        self._t0 = time.monotonic()
        self._done = threading.Event()
        hb = threading.Thread(target=self._heartbeats, daemon=True)
        try:
            b = base(self.r)
            # stage 0: the base (both protocols) and the size ladder (short streams: seconds);
            # a target whose stream length we only ask for is calibrated first
            if hasattr(self.t, "calibrate"):
                self.batch([(self.t.calibration_spec(), {"role": "calibrate", "level": 0.0})] * 4)
                self.t.calibrate(self.records)
                self.r = self.t.ranges
                b = base(self.r)
            self.batch([(b, {"role": "base", "level": 0.0})] * 4
                       + [(replace(b, protocol="h2c"), {"role": "base", "level": 0.0})] * 2
                       + self._ladder_jobs("size", self.r.size_levels()))
            hb.start()
            self.settle(("size",))
            self.stage1()
            self.bisect()
            self.treatments()
            self.soak()
        finally:
            self._done.set()
            if hb.is_alive():
                hb.join()
            for pool in (self._pool, self._hb_pool):
                pool.shutdown(wait=not self._stop.is_set(), cancel_futures=True)
        return self.records

    def _ladder_jobs(self, factor: str, levels: list[float]) -> list:
        jobs = []
        for i, lv in enumerate(levels):
            n = self.s.top_repeats if i >= len(levels) - 2 else self.s.repeats
            jobs += self.level_jobs(factor, lv, n, "ladder")
        return jobs

    def stage1(self) -> None:
        """Every time ladder at once; size x duration at a big size: the biggest when no size
        fails, else a quarter of the biggest that passed (so that a bytes x seconds budget,
        which the size ladder crossed at its short stream, is crossed well above the floor)."""
        h = history(self.records)
        size = h.ladder("size")
        levels = size.sorted() if size else []
        passed = [lv.value for lv in levels if not lv.failing]
        if levels and not any(lv.failing for lv in levels):
            self.big_size = int(levels[-1].value)
        else:
            top = max(passed or [self.r.small])
            self.big_size = max(self.r.small, int(top / 4))
            # a target that bills bodies it accepts (a real API reads a bigger one whole and
            # rejects it, free): half the biggest passing size when that is free and a quarter
            # is not -- a size x duration ladder of ~30 billed big bodies would eat the cost cap
            free = getattr(self.t, "free_above", None)
            if free is not None and self.big_size <= free < top / 2:
                self.big_size = int(top / 2)
        factors = ["duration", "size_x_duration", "think_time"]
        if getattr(self.t, "can_silence", True):
            factors.append("idle_gap")
        if not h.h2c_unsupported:
            factors.append("read_pace")
        jobs = []
        for factor in factors:
            jobs += self._ladder_jobs(factor, self.r.pace_levels() if factor == "read_pace" else self.r.time_levels())
        self.batch(jobs)
        self.settle(tuple(factors))
        self.below_floor(tuple(factors))

    def below_floor(self, factors: tuple[str, ...]) -> None:
        """A ladder that fails at its lowest level has no boundary inside it: its limit is below
        the floor, which the engine must not assume. size x duration runs again at a quarter of
        its size (its old probes are kept as `superseded`: two sizes are two ladders); every
        other time ladder steps down an octave at a time, to `FLOOR_OCTAVES` below its floor."""
        for _ in range(FLOOR_OCTAVES):
            h = history(self.records)
            jobs = []
            for f in factors:
                lad = h.ladder(f)
                b = lad.boundary() if lad else None
                if b is None or b[0] is not None:
                    continue
                if f == "size_x_duration":
                    if self.big_size // 4 < 4 * self.r.small:
                        continue
                    self.big_size //= 4
                    with self._lock:
                        for r in self.records:
                            if r["probe"].get("factor") == f:
                                r["probe"]["role"] = "superseded"
                    jobs += self._ladder_jobs(f, self.r.time_levels())
                else:
                    jobs += self._ladder_jobs(f, [b[1] / 2])
            if not jobs:
                return
            self.batch(jobs)
            self.settle(tuple({j[1]["factor"] for j in jobs}))

    def settle(self, factors: tuple[str, ...]) -> None:
        """Sequential: levels with a split result get more repeats until decided."""
        for _ in range(3):
            h = history(self.records)
            jobs = []
            for f in factors:
                lad = h.ladder(f)
                for lv in lad.sorted() if lad else []:
                    if 0 < lv.failures < lv.n and lv.n < self.s.max_repeats and abs(lv.rate - 0.5) < 0.34:
                        jobs += self.level_jobs(f, lv.value, 2, "ladder")
            if not jobs:
                return
            self.batch(jobs)

    def bisect(self) -> None:
        for _ in range(self.s.bisect_steps):
            h = history(self.records)
            jobs = []
            for (factor, treatment), lad in h.ladders.items():
                b = lad.boundary()
                if treatment is None and b is not None and b[0] is not None and b[1] / b[0] > self.s.resolution:
                    # several interior points at once (geometric quartiles): each step costs one
                    # probe's time and cuts the interval 4-fold, where a bisection halves it
                    ratio = b[1] / b[0]
                    for i in range(1, self.s.bisect_points + 1):
                        mid = b[0] * ratio ** (i / (self.s.bisect_points + 1))
                        mid = round(mid) if factor == "size" else mid
                        jobs += self.level_jobs(factor, mid, self.s.repeats, "bisect")
            if not jobs:
                return
            self.batch(jobs)
            self.settle(tuple({j[1]["factor"] for j in jobs}))

    def treatments(self) -> None:
        h = history(self.records)
        jobs = []
        for (factor, treatment), lad in h.ladders.items():
            if treatment is not None:
                continue
            failing = lad.failing_levels()
            if not failing:
                continue
            b = lad.boundary()
            # clearly past the boundary, where the untreated probes fail reliably
            clear = [lv for lv in failing if lv >= 1.5 * b[1]]
            at = clear[:2] if len(clear) >= 2 else failing[-2:]
            keepalive = self.keepalive_for(factor, b)
            # untreated controls at the same levels, in the same batch: a treatment is compared
            # with probes that met the same load and the same moment, not with stage 1's
            for lv in at:
                jobs += self.level_jobs(factor, lv, self.s.treatment_repeats, "treatment", None, "control")
            for t in ("keepalive", "protocol", "canary"):
                if t == "protocol" and (factor == "think_time" or h.h2c_unsupported):
                    continue  # pooled reuse is an HTTP/1.1 probe (HTTP/2 multiplexes instead)
                levels = at + ([lad.sorted()[0].value] if t == "canary" and lad.sorted()[0].value not in at else [])
                for lv in levels:
                    spec = treat(spec_for(factor, lv, self.r, self.big_size), t, keepalive)
                    jobs += self.level_jobs(factor, lv, self.s.treatment_repeats, "treatment", spec, t)
        self.batch(jobs)

    def soak(self) -> None:
        """Exposure for the outage hypothesis: outages are events in time, and a run that met
        none can only bound them. While H3 is undecided (no probe failed beside a failing
        heartbeat, and the heartbeats never failed through a failure), waves of `SOAK_STREAMS`
        fresh streams of a length the duration ladder passed run beside the heartbeats (role
        `soak`: counted for the coincidences, never in a ladder) for as long as
        `soak_need` asks."""
        from .judge import Judge

        dur = history(self.records).ladder("duration")
        passed = [lv.value for lv in dur.sorted() if not lv.failing] if dur else []
        b = dur.boundary() if dur else None
        cap = min(SOAK_STREAM * self.r.short, b[0] / 2 if b and b[0] else math.inf)
        level = max([v for v in passed if v <= cap] or [self.r.short])
        first_seen: list[float] = []
        while not self._stop.is_set():
            h = history(self.records)
            if Judge(h).verdict("h3").verdict != "inconclusive":
                return
            if not soak_need(h, time.monotonic() - self._t0, getattr(self.t, "min_run", 0.0) * self.t.unit_s,
                             first_seen):
                return
            self.batch(self.level_jobs("duration", level, SOAK_STREAMS, "soak"))

    def keepalive_for(self, factor: str, b) -> float:
        """TCP keepalive idle well below the boundary (a quarter of its last passing level)."""
        if factor in ("idle_gap", "think_time", "duration", "size_x_duration") and b and b[0]:
            return max(b[0] / 4, self.t.min_keepalive)
        return max(self.r.short / 4, self.t.min_keepalive)


def soak_need(h, elapsed: float, min_run: float, first_seen: list[float]) -> bool:
    """Whether an undecided H3 needs more exposure (real seconds throughout): while the run is
    shorter than the target's `min_run` (an external target: outages are events in time); and
    once the heartbeats have seen the path go down while no probe was alive -- an outage that
    exists and that no stream met -- until the time probes were alive reaches 3 T / k (k such
    episodes seen in the T seconds the run had lasted when the first was noticed: at that rate
    a stretch of 3 T / k meets one with ~95 %). `first_seen` keeps T between calls."""
    if elapsed < min_run:
        return True
    episodes = h.unwatched_outages()
    if not episodes:
        return False
    if not first_seen:
        first_seen.append(elapsed)
    real, _ = h.covered()
    return real < 3 * first_seen[0] / len(episodes)


class Bucket:
    """A token bucket of request bytes: take(n) waits until n bytes may start."""

    def __init__(self, rate: float | None):
        self.rate, self.level, self.t = rate, rate or 0.0, time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int, stop: threading.Event) -> None:
        if self.rate is None:
            return
        while not stop.is_set():
            with self.lock:
                now = time.monotonic()
                self.level = min(self.rate, self.level + (now - self.t) * self.rate)
                self.t = now
                if self.level >= min(n, self.rate):
                    self.level -= n
                    return
                wait = (min(n, self.rate) - self.level) / self.rate
            stop.wait(min(wait, 0.2))


_MACHINE_BUCKETS: dict[float | None, Bucket] = {}
_MACHINE_LOCK = threading.Lock()


def machine_bucket(rate: float | None) -> Bucket:
    """One bucket per rate for the whole process, shared by every Search that asks for it."""
    with _MACHINE_LOCK:
        if rate not in _MACHINE_BUCKETS:
            _MACHINE_BUCKETS[rate] = Bucket(rate)
        return _MACHINE_BUCKETS[rate]


def _expected_seconds(spec: ProbeSpec) -> float:
    transfer = spec.duration + spec.longest_idle + (spec.think_time or 0.0)
    if spec.read_pace:
        transfer += (spec.h2_window or 0) / spec.read_pace
    return transfer


def _group(tags: dict) -> str:
    """The arms compared with each other: a level's treatments and its controls."""
    if tags.get("role") == "treatment":
        return f"{tags['factor']}@{tags['level']:g}"
    return _arm(tags)


def _arm(tags: dict) -> str:
    if tags.get("role") in ("base", "heartbeat", "calibrate"):
        return tags["role"]
    arm = f"{tags['factor']}@{tags['level']:g}"
    if tags.get("role") == "soak":
        return arm + "+soak"
    return arm + (f"+{tags['treatment']}" if tags.get("treatment") else "")
