"""The mitigation runner: what a user (or a client) could change, measured on a world.

A *session* is a sequence of turns whose request context grows (1, 6, 10 MB: the field
report's large sessions) with a think time between turns (field seconds, scaled by the
world's time_scale). Each turn is one request, retried on failure per a retry schedule. A
*mitigation* is a small data object (registry below) that changes how the session's
requests are made: retry schedule, TCP keepalive, protocol, whether a retry reuses a pooled
connection or opens a fresh one, and whether a turn is shrunk ("compacted") after N
consecutive failures.

Pooled reuse: with `pooled` (the default, like every SDK's connection pool), every turn after
the first is sent on a keep-alive connection that has been idle for the think time (the raw
client's `think_time`: a warm-up request, the idle gap, then the turn's request). A failed
connection leaves the pool; the retry takes the next idle one if there is one. The pool holds
POOL_IDLE connections at the start of a turn (a CLI's main request plus a side request such
as the title or token count: two), so the first retry lands on a connection just as stale
and later ones on fresh connections; `fresh_retry` sends every retry on a fresh connection;
`pool_idle` models a client that closes idle pooled connections (Node's ~4 s, Bun's ~300 s):
after a longer think time the turn and its retries open fresh connections.
The raw client only reuses HTTP/1.1 connections: with protocol h2c the turns go on fresh
connections, and the row says so in `note`.

    rows = run_mitigations(h2.world(), ["none", "keepalive"], turns=3)
    print(table(rows))

Row schema (one dict per (world, mitigation) cell):
    world, mitigation, schedule, protocol, keepalive (field s or None), pooled, fresh_retry,
    shrink_after (N or None), pool_idle (field s or None), think_time (field s), turns,
    turns_lost (turns that never succeeded), attempts (requests made), retries (attempts - turns), retries_wasted (failed
    retries), retries_succeeded, shrinks (attempts sent shrunk), backoff_s (field s of retry
    delays), request_s (field s: sum of the records' t_total / time_scale), session_s
    (request_s + backoff_s; think time excluded), time_to_success_s (session_s when no turn
    was lost, else None), turn_time_to_success_s (mean over the turns that succeeded of their
    time from first attempt to a complete answer; None when none did), outcomes ({kind:
    count} over all attempts), turn_log (per turn: turn, size, attempts, succeeded, outcomes
    [kind per attempt], sizes [bytes per attempt], request_s, backoff_s, time_s), note.
Backoff delays are field seconds; the runner sleeps them scaled by the world's time_scale.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace

from harness.worlds.compile import compile_world
from harness.worlds.model import ProbeSpec, World
from netem.errors import ConfigError

SIZES = (1_000_000, 6_000_000, 10_000_000)  # field-report-like growing context (1-3 MB, >= 6 MB buckets)
MIN_SIZE = 1024
POOL_IDLE = 2  # idle keep-alive connections in the pool when a turn starts (module docstring)


# --- retry schedules ----------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """Up to `retries` retries; retry n (1-based) waits min(base * 2^(n - 1 + shift), cap) field
    seconds (cap == base with shift 0 gives a constant delay)."""

    name: str
    retries: int
    base: float
    cap: float
    shift: int = 0
    description: str = ""

    def delay(self, n: int) -> float:
        return min(self.base * 2 ** (n - 1 + self.shift), self.cap)

    def delays(self) -> list[float]:
        return [self.delay(n) for n in range(1, self.retries + 1)]


SCHEDULES = {s.name: s for s in (
    # anthropic SDK: max_retries 2, min(0.5 * 2^n, 8) s for n = 0, 1 (jitter left out)
    Schedule("sdk", 2, 0.5, 8.0, 0, "anthropic SDK: 2 retries, min(0.5*2^n, 8) s"),
    # Claude Code: up to 10 retries, min(0.5 * 2^(n-1), 32) s for n = 1..10
    Schedule("claude_code", 10, 0.5, 32.0, 0, "Claude Code: 10 retries, min(0.5*2^(n-1), 32) s"),
    Schedule("short_capped", 3, 1.0, 1.0, 0, "3 retries, 1 s each"),
)}


# --- mitigations --------------------------------------------------------------------------

@dataclass(frozen=True)
class Mitigation:
    name: str
    schedule: str = "sdk"
    keepalive: float | None = None  # TCP keepalive idle, field seconds
    protocol: str = "http1"  # http1 | h2c
    pooled: bool = True  # turns after the first reuse a pooled connection idle for the think time
    fresh_retry: bool = False  # retries open a fresh connection instead
    shrink_after: int | None = None  # after N consecutive failures of a turn, halve its request
    # the client closes a pooled connection idle this long (field s; None: never): a turn
    # after a longer think time, and its retries, go on fresh connections
    pool_idle: float | None = None
    description: str = ""


_BASE = Mitigation("none")
MITIGATIONS = {m.name: m for m in (
    # the baseline is what the SDKs do by default: their retry schedule, a pooled HTTP/1.1
    # connection, no TCP keepalive; every other entry changes one thing
    replace(_BASE, description="baseline: SDK retry schedule, pooled HTTP/1.1, no keepalive"),
    replace(_BASE, name="keepalive", keepalive=30.0, description="TCP keepalive 30 s"),
    replace(_BASE, name="h2", protocol="h2c", description="every request over HTTP/2 (h2c)"),
    replace(_BASE, name="fresh_connection", fresh_retry=True, description="retries on a fresh connection"),
    replace(_BASE, name="shrink_after_n", shrink_after=1,
            description="after N=1 consecutive failures, retry with the request halved (compact)"),
    replace(_BASE, name="claude_code", schedule="claude_code", description=SCHEDULES["claude_code"].description),
    replace(_BASE, name="short_capped", schedule="short_capped", description=SCHEDULES["short_capped"].description),
    # Claude Code's own pools, measured (harness/clients/README.md): on Node, undici closes an
    # idle connection after ~4 s; on Bun (the native build) the pool keeps it ~300 s and the
    # socket has a TCP keepalive at 60 s idle. Combine with claude_code for its retries.
    replace(_BASE, name="node_pool", pool_idle=4.0, description="Node's pool: idle connections closed after 4 s"),
    replace(_BASE, name="bun_pool", pool_idle=300.0, keepalive=60.0,
            description="Bun's pool: idle connections kept 300 s, TCP keepalive 60 s"),
)}
NAMES = tuple(MITIGATIONS)
# what `python -m harness run` measures per world; the pool models are opt-in (-m bun_pool)
DEFAULT = tuple(n for n, m in MITIGATIONS.items() if m.pool_idle is None)


def get(name: str | Mitigation) -> Mitigation:
    """A mitigation by name; "a+b" combines registered ones (later names win on conflicts)."""
    if isinstance(name, Mitigation):
        _check(name)
        return name
    parts = str(name).split("+")
    for part in parts:
        if part not in MITIGATIONS:
            raise ConfigError("mitigation", part, "one of " + ", ".join(NAMES) + " (or a+b)")
    if len(parts) == 1:
        return MITIGATIONS[parts[0]]
    changes = {}
    for part in parts:
        m = MITIGATIONS[part]
        changes.update({f.name: getattr(m, f.name) for f in fields(Mitigation)
                        if f.name not in ("name", "description") and getattr(m, f.name) != getattr(_BASE, f.name)})
    return replace(_BASE, name=str(name), description=" + ".join(parts), **changes)


def _check(m: Mitigation) -> None:
    if m.schedule not in SCHEDULES:
        raise ConfigError("Mitigation.schedule", m.schedule, "one of " + ", ".join(SCHEDULES))
    if m.protocol not in ("http1", "h2c"):
        raise ConfigError("Mitigation.protocol", m.protocol, "one of 'http1', 'h2c'")
    if m.shrink_after is not None and m.shrink_after < 1:
        raise ConfigError("Mitigation.shrink_after", m.shrink_after, "an integer >= 1 or None")
    if m.pool_idle is not None and not m.pool_idle > 0:
        raise ConfigError("Mitigation.pool_idle", m.pool_idle, "field seconds > 0 or None")


# --- sessions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    """Field units. Turn i sends sizes[i] (the last size repeats when turns > len(sizes)) and
    streams for duration + duration_per_mb x MB: a bigger context, a longer answer (the field
    report's long streams on big sessions). think_time: the user's pause (and tool runs)
    between turns, minutes in the field."""

    sizes: tuple[int, ...] = SIZES
    duration: float = 20.0  # field seconds of stream at any size ...
    duration_per_mb: float = 12.0  # ... plus this per MB of request: 32, 92, 140 s
    think_time: float = 450.0  # idle gap before each turn after the first, field seconds

    def __post_init__(self) -> None:
        if not self.sizes or any(not isinstance(x, int) or x < MIN_SIZE for x in self.sizes):
            raise ConfigError("Session.sizes", self.sizes, f"a non-empty list of integers >= {MIN_SIZE}")
        for name in ("duration", "duration_per_mb", "think_time"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0 <= v <= 86400:
                raise ConfigError(f"Session.{name}", v, "0..86400 field seconds")

    def size(self, turn: int) -> int:
        return self.sizes[min(turn, len(self.sizes) - 1)]

    def stream_seconds(self, turn: int) -> float:
        return self.duration + self.duration_per_mb * self.size(turn) / 1e6


def _spec(m: Mitigation, session: Session, turn: int, attempt: int, failures: int, seed: int) -> ProbeSpec:
    size = session.size(turn)
    if m.shrink_after:
        size = max(MIN_SIZE, size >> (failures // m.shrink_after))
    reuse = m.pooled and m.protocol == "http1" and turn > 0 and attempt < (1 if m.fresh_retry else POOL_IDLE) \
        and (m.pool_idle is None or session.think_time < m.pool_idle)
    return ProbeSpec(size=size, duration=session.stream_seconds(turn), keepalive=m.keepalive, protocol=m.protocol,
                     think_time=session.think_time if reuse and session.think_time else None,
                     seed=seed)


class Stopped(Exception):
    """The caller set the session's stop event (Ctrl-C in the CLI): no further attempt."""


def run_session(rw, m: Mitigation, session: Session, turns: int, seed: int = 0,
                sleep: Callable[[float], None] = time.sleep, stop: threading.Event | None = None) -> dict:
    """One session of `turns` turns in a running world (harness.lab.runtime.RunningWorld).
    `stop`: checked before each attempt; when set, Stopped is raised."""
    w: World = rw.world
    lab = compile_world(w)
    sched = SCHEDULES[m.schedule]
    counts: Counter = Counter()
    turn_log = []
    for turn in range(turns):
        kinds, sizes, ok, failures, spent, backoff = [], [], False, 0, 0.0, 0.0
        for attempt in range(sched.retries + 1):
            if attempt:
                delay = sched.delay(attempt)
                backoff += delay
                sleep(lab.seconds(delay))
            if stop is not None and stop.is_set():
                raise Stopped(f"{w.name}/{m.name}")
            spec = _spec(m, session, turn, attempt, failures, seed * 1000 + turn * 100 + attempt)
            rec = rw.probe(spec)
            spent += lab.field_seconds(rec.t_total or 0.0)
            kinds.append(rec.outcome)
            sizes.append(spec.size)
            counts[rec.outcome] += 1
            if rec.outcome == "completed":
                ok = True
                break
            failures += 1
        turn_log.append({"turn": turn, "size": session.size(turn), "attempts": len(kinds), "succeeded": ok,
                         "outcomes": kinds, "sizes": sizes, "request_s": round(spent, 3),
                         "backoff_s": round(backoff, 3), "time_s": round(spent + backoff, 3)})
    return _row(w.name, m, session, turns, turn_log, counts)


def _row(world: str, m: Mitigation, session: Session, turns: int, turn_log: list[dict], counts: Counter) -> dict:
    attempts = sum(t["attempts"] for t in turn_log)
    ok = [t for t in turn_log if t["succeeded"]]
    retries_succeeded = sum(1 for t in ok if t["attempts"] > 1)
    retries = attempts - turns
    shrinks = sum(sum(1 for x in t["sizes"] if x < t["size"]) for t in turn_log)
    request = sum(t["request_s"] for t in turn_log)
    backoff = sum(t["backoff_s"] for t in turn_log)
    note = "h2c: raw client cannot reuse a pooled h2 connection; turns use fresh connections" \
        if m.pooled and m.protocol != "http1" and turns > 1 and session.think_time else ""
    return {"world": world, "mitigation": m.name, "schedule": m.schedule, "protocol": m.protocol,
            "keepalive": m.keepalive, "pooled": m.pooled, "fresh_retry": m.fresh_retry,
            "shrink_after": m.shrink_after, "pool_idle": m.pool_idle, "think_time": session.think_time,
            "turns": turns,
            "turns_lost": turns - len(ok), "attempts": attempts, "retries": retries,
            "retries_wasted": retries - retries_succeeded, "retries_succeeded": retries_succeeded,
            "shrinks": shrinks, "backoff_s": round(backoff, 3), "request_s": round(request, 3),
            "session_s": round(request + backoff, 3),
            # every turn answered: the session's time (requests + backoff, think time left out);
            # a session that lost a turn never succeeded. Per turn: mean over the turns that
            # succeeded of first attempt sent -> complete answer.
            "time_to_success_s": None if len(ok) < turns else round(request + backoff, 3),
            "turn_time_to_success_s": round(sum(t["time_s"] for t in ok) / len(ok), 3) if ok else None,
            "outcomes": dict(counts), "turn_log": turn_log, "note": note}


def run_mitigations(world: World, mitigations, turns: int = 3, seed: int = 0, *, session: Session | None = None,
                    rw=None, backend: str = "auto", parallel: int = 8,
                    stop: threading.Event | None = None) -> list[dict]:
    """One row per mitigation (see the module docstring), sessions run concurrently in one
    running world (`rw`, or one started here and torn down after)."""
    ms = [get(m) for m in ([mitigations] if isinstance(mitigations, str | Mitigation) else mitigations)]
    if not ms:
        raise ConfigError("mitigations", mitigations, "at least one of " + ", ".join(NAMES))
    if not isinstance(turns, int) or turns < 1:
        raise ConfigError("turns", turns, "an integer >= 1")
    session = session or Session()
    if rw is None:
        from harness.lab.runtime import RunningWorld

        with RunningWorld(world, backend=backend) as started:
            return run_mitigations(world, ms, turns, seed, session=session, rw=started, parallel=parallel,
                                   stop=stop)
    from harness.run import results

    stop = stop or threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(ms)))) as pool:
        try:
            return results([pool.submit(run_session, rw, m, session, turns, seed, stop=stop) for m in ms])
        except BaseException:
            stop.set()  # the other sessions end at their next attempt
            raise


# --- output -------------------------------------------------------------------------------

LEGEND = ("cell: turns lost/turns, retries wasted, time until every turn was answered (requests and "
          "backoff, field seconds; — when a turn was lost). A session: turns of growing "
          "context (1, 6, 10 MB), each streaming longer the bigger it is (32, 92, 140 s), a think time "
          "(450 s) between turns; each turn retried per the row's schedule.")


def cell(r: dict) -> str:
    tts = "—" if r["time_to_success_s"] is None else f"{r['time_to_success_s']:.0f} s"
    return f"{r['turns_lost']}/{r['turns']} lost, {r['retries_wasted']} wasted, {tts}"


def pivot(rows: list[dict]) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    """(worlds, mitigations, {(world, mitigation): row}) in first-seen order."""
    worlds = list(dict.fromkeys(r["world"] for r in rows))
    names = list(dict.fromkeys(r["mitigation"] for r in rows))
    return worlds, names, {(r["world"], r["mitigation"]): r for r in rows}


def markdown(rows: list[dict]) -> str:
    """One row per world, one column per mitigation (the report's mitigation table)."""
    worlds, names, at = pivot(rows)
    lines = ["| world | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for w in worlds:
        lines.append(f"| {w} | " + " | ".join(cell(at[w, m]) if (w, m) in at else "" for m in names) + " |")
    notes = sorted({f"{r['mitigation']}: {r['note']}" for r in rows if r.get("note")})
    return "\n".join(lines + [""] + [LEGEND] + [f"Note -- {n}" for n in notes])


def table(rows: list[dict]) -> str:
    """Markdown, long form: one line per (world, mitigation) with the outcome counts."""
    head = ["world", "mitigation", "turns", "turns lost", "attempts", "retries wasted", "time to success (s)",
            "outcomes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["world"], r["mitigation"], str(r["turns"]), str(r["turns_lost"]), str(r["attempts"]),
                 str(r["retries_wasted"]), "—" if r["time_to_success_s"] is None else f"{r['time_to_success_s']:.1f}",
                 ", ".join(f"{k} {n}" for k, n in sorted(r["outcomes"].items()))]
        if r.get("note"):
            cells[-1] += f" ({r['note']})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------

def add_parser(sub) -> None:
    p = sub.add_parser("mitigate", help="run sessions under mitigations on built-in worlds (Markdown table)")
    p.add_argument("--world", action="append", default=[], metavar="NAME", help="a built-in world (repeatable)")
    p.add_argument("-m", "--mitigation", action="append", default=[], metavar="NAME",
                   help="a mitigation (repeatable; a+b combines): " + ", ".join(NAMES))
    p.add_argument("--turns", type=int, default=3)
    p.add_argument("--think-time", type=float, default=240.0, help="field seconds between turns")
    p.add_argument("--duration", type=float, default=30.0, help="stream duration per turn, field seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines instead")
    p.set_defaults(func=_main)


def _main(args) -> int:
    import sys

    from harness.worlds import by_name

    try:
        worlds = [by_name(n) for n in (args.world or ["h2"])]
        ms = [get(n) for n in (args.mitigation or list(DEFAULT))]
        session = Session(duration=args.duration, think_time=args.think_time)
        rows = [r for w in worlds for r in run_mitigations(w, ms, args.turns, args.seed, session=session)]
    except ValueError as e:  # ConfigError included
        print(f"resetlab: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        for r in rows:
            print(json.dumps(r, sort_keys=True))
    else:
        print(table(rows))
    return 0
