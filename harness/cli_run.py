"""`python -m harness run | report | probe`: the falsification table from the command line.

    run     built-in worlds (or a --world-file): run the engine's probes, write results/<run-id>/
    report  re-render a results folder from its probes.jsonl
    probe   an external target (a base URL): only client-side factors vary; a cost estimate is
            printed first and nothing is sent without --yes; the API key is read from the
            environment variable named by --api-key-env and never written anywhere
Bad input gets one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlsplit


def _err(msg: str) -> int:
    print(f"resetlab: error: {msg}", file=sys.stderr)
    return 2


def add_parsers(sub) -> None:
    r = sub.add_parser("run", help="run the falsification engine on built-in worlds")
    r.add_argument("--world", action="append", default=[], metavar="NAME", help="a built-in world (repeatable)")
    r.add_argument("--all", action="store_true", help="every built-in world")
    r.add_argument("--world-file", action="append", default=[], metavar="PATH", help="a world in JSON or TOML")
    r.add_argument("--repeats", type=int, default=2, help="probes per ladder level (more at the top levels)")
    r.add_argument("--time-scale", type=float, default=None, help="override each world's time scale")
    r.add_argument("--backend", default="auto", choices=("auto", "kernel", "userspace"))
    r.add_argument("--out", default=None, help="results folder (default results/<run-id>)")
    r.add_argument("--seed", type=int, default=0)
    # 5: a world mostly waits on its own (scaled) clock; 5 at once kept 2 cores ~55% busy
    # and the table diagonal (README); the mitigation sessions run MITIGATION_WORLDS at once
    r.add_argument("--parallel", type=int, default=5, metavar="N", help="worlds searched at once [5]")
    r.add_argument("--no-mitigations", action="store_true",
                   help="skip the mitigation sessions (harness/mitigations.py) after each world's probes")
    r.add_argument("--mitigation-turns", type=int, default=None, metavar="N",
                   help="turns per mitigation session (default: one per context size, 1/6/10 MB)")
    r.set_defaults(func=cmd_run)
    rp = sub.add_parser("report", help="re-render a results folder")
    rp.add_argument("dir")
    rp.set_defaults(func=cmd_report)
    p = sub.add_parser("probe", help="probe an external target (only client-side factors vary)")
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key-env", default="ANTHROPIC_API_KEY", metavar="VAR")
    p.add_argument("--model", default="claude-sonnet-4-5")
    p.add_argument("--repeats", type=int, default=2, help="probes per ladder level (more at the top levels)")
    p.add_argument("--max-stream-s", type=float, default=64.0, metavar="S",
                   help="top of the time ladders (stream length, silence, think time), real seconds")
    p.add_argument("--max-size", type=int, default=32_000_000, metavar="BYTES", help="top of the size ladder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lab-hints", action="store_true",
                   help="also send the mock's x-resetlab-stream header (stream length, mid-stream silence); "
                        "a real API ignores it")
    p.add_argument("--max-cost-usd", type=float, default=None,
                   help="stop sending once this much could have been spent (a real API bills tokens); default "
                        "the printed estimate of the whole plan, rounded up to whole dollars, so that a default "
                        "run is never cut short by a cap it did not choose")
    p.add_argument("--min-run-s", type=float, default=None, metavar="S",
                   help="a run that met no outage keeps streaming beside its heartbeats until this long "
                        "(default 240): outages are events in time, and a short run can only bound them")
    p.add_argument("--yes", action="store_true", help="really send the requests")
    p.add_argument("--ca", default=None, help="trust this CA (TLS)")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_probe)


def _out_dir(out: str | None) -> str:
    path = out or os.path.join("results", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(path, exist_ok=True)
    return path


class Progress:
    """One status line on stderr: [done/total] what."""

    def __init__(self, total: int, label: str):
        self.total, self.done, self.label = total, 0, label
        self.tty = sys.stderr.isatty()

    def __call__(self, rec) -> None:
        self.done += 1
        self.total = max(self.total, self.done)
        bar = "#" * int(20 * self.done / max(1, self.total))
        where = rec.get("world") or self.label
        line = f"\r[{bar:<20}] {self.done}/{self.total} {where}: {rec['probe'].get('arm')} {rec['label']}"
        print(line if self.tty else line.strip(), end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from harness import engine
    from harness.report import render
    from harness.worlds import NAMES, World, by_name

    if args.repeats < 1:
        return _err(f"--repeats: got {args.repeats}; allowed an integer >= 1")
    if args.mitigation_turns is not None and not 1 <= args.mitigation_turns <= 100:
        return _err(f"--mitigation-turns: got {args.mitigation_turns}; allowed an integer in [1, 100]")
    if args.time_scale is not None and not 1e-4 <= args.time_scale <= 10:
        return _err(f"--time-scale: got {args.time_scale}; allowed a factor in [0.0001, 10]")
    try:
        worlds = [by_name(n) for n in (NAMES if args.all else args.world)]
        worlds += [World.load(p) for p in args.world_file]
    except (ValueError, OSError) as e:
        return _err(str(e))
    if not worlds:
        return _err("--world: got nothing; allowed one or more of " + ", ".join(NAMES) + ", or --all")
    if args.time_scale is not None:
        worlds = [w.with_(time_scale=args.time_scale) for w in worlds]
    if not 1 <= args.parallel <= 16:
        return _err(f"--parallel: got {args.parallel}; allowed an integer in [1, 16]")
    out = _out_dir(args.out)
    state = _RunState(out)
    mitigations = None if args.no_mitigations else _Mitigations(worlds, out, args)
    try:
        # a world's mitigation sessions start as soon as its own probes have ended, beside
        # the searches still running (they are mostly scaled waiting: think time, streams)
        _probe_worlds(worlds, args, state, after=mitigations.start if mitigations else None)
        # The falsification table first: it is what the run is for; the mitigation
        # sessions of the last worlds end after it.
        render(out)
        with open(os.path.join(out, "falsification.md")) as f:
            print(f.read().split("## ")[0].strip(), flush=True)
        if mitigations:
            state.stage = "the mitigation sessions"
            mitigations.finish()
            render(out)
            with open(os.path.join(out, "falsification.md")) as f:
                md = f.read()
            if "\n## Mitigations" in md:
                print("\n## Mitigations" + md.split("\n## Mitigations", 1)[1].split("\n## ")[0].rstrip())
    except KeyboardInterrupt:
        # the searches' worlds are torn down by now (context managers)
        name, status = _hold_signals(args)
        if mitigations:
            mitigations.stop()  # sessions end at their next attempt; their worlds tear down
        state.keep_unwritten()
        return _write_interrupted(out, f"interrupted by {name} during {state.stage}", status)
    except BaseException:
        if mitigations:
            mitigations.stop()
        raise
    print(f"\nresults: {out} (falsification.json, falsification.md, report.html, probes.jsonl"
          f"{'' if args.no_mitigations else ', mitigations.jsonl'}); alpha {engine.ALPHA}, Holm within each hypothesis")
    return 0


def _hold_signals(args) -> tuple[str, int]:
    """After Ctrl-C / SIGTERM: further signals are only reported (harness.interrupts) while
    what was measured is written; (the signal's name, the exit status it asks for)."""
    sig = getattr(args, "signals", None)
    if sig is None:
        return "SIGINT", 130
    sig.hold()
    return sig.name, sig.exit_status


def _write_interrupted(out: str, reason: str, status: int) -> int:
    """Judge and render what was measured, marked partial; say so on stderr."""
    from harness.report import render

    write_partial(out, reason)
    render(out)
    print(f"\nresetlab: {reason}; partial results: {out} (falsification.json, falsification.md, "
          "report.html, probes.jsonl; marked partial)", file=sys.stderr)
    return status


class _RunState:
    """Where a run is, and the records of the worlds being probed (kept if it is interrupted)."""

    def __init__(self, out: str):
        self.out, self.stage = out, "start-up"
        self.lock = threading.Lock()
        self.unwritten: dict[str, list[dict]] = {}  # world -> records not yet in probes.jsonl
        write_partial(out, None)  # a folder reused with --out: no stale mark

    def write(self, world: str, records: list[dict] | None = None) -> None:
        with self.lock:
            recs = self.unwritten.pop(world, []) if records is None else records
            self.unwritten.pop(world, None)
            with open(os.path.join(self.out, "probes.jsonl"), "a") as f:
                for d in recs:
                    d["probe"]["target"] = f"world {world}"
                    f.write(json.dumps(d, sort_keys=True) + "\n")

    def keep_unwritten(self) -> None:
        for world in list(self.unwritten):
            self.write(world)


def write_partial(out: str, reason: str | None) -> None:
    """Mark the results folder partial (report.render reads the mark), or clear the mark."""
    path = os.path.join(out, "partial.json")
    if reason is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    with open(path, "w") as f:
        json.dump({"partial": True, "reason": reason}, f)


def _probe_worlds(worlds: list, args: argparse.Namespace, state: _RunState, after=None) -> None:
    """Every world's search, `args.parallel` at once; `after(world)` once a world's are in."""
    from harness.experiment.search import Settings
    from harness.lab.runtime import RunningWorld
    from harness.run import STOP, falsify_running, results

    STOP.clear()
    outages: dict[str, list[dict]] = {}
    with open(os.path.join(state.out, "worlds.json"), "w") as f:
        json.dump({w.name: w.to_dict() for w in worlds}, f, indent=2)
    progress = Progress(0, "probes")  # the plan is adaptive: the total grows as it goes
    state.stage = "the worlds' probes (" + ", ".join(w.name for w in worlds) + ")"

    stop = threading.Event()  # Ctrl-C: every world's search stops waiting and tears down

    def one(w, i: int) -> None:
        def seen(rec) -> None:
            with state.lock:
                state.unwritten.setdefault(w.name, []).append(rec)  # kept if the run is interrupted
            progress(rec)

        # the first `parallel` worlds start WORLD_STAGGER apart, not together: 5 worlds' first
        # ladders at once jammed the machine for ~15 s (16 MB probes 10 s, 32 MB ones past
        # their headers deadline, h2 inconclusive on those failures); later ones start as
        # slots free up, staggered already
        if stop.wait(WORLD_STAGGER * i if i < args.parallel else 0.0):
            return
        with RunningWorld(w, backend=args.backend) as rw:
            records, _ = falsify_running(rw, f"world {w.name}", Settings(repeats=args.repeats, seed=args.seed,
                                                                         stop=stop), progress=seen)
            outages[w.name] = _outage_windows(rw)
        state.write(w.name, records)  # kept as each world ends
        if after is not None and not stop.is_set():
            after(w)

    # a few worlds at a time, each in its own namespaces: most of a search is scaled waiting
    pool = ThreadPoolExecutor(max_workers=args.parallel)
    try:
        results([pool.submit(one, w, i) for i, w in enumerate(sorted(worlds, key=_longest_first))], stop)
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # the searches saw `stop`: they end at once
        progress.close()
        with open(os.path.join(state.out, "outages.json"), "w") as f:
            json.dump(outages, f)


def _longest_first(w) -> tuple:
    """The longest searches start first, so that the run does not end waiting for one that
    started last: a search's length is its ladders' top in real seconds (t_max x time_scale),
    and a world whose failures are silent waits for watchdogs: outages (connects retried,
    streams stalled), then a NAT that forgets flows (a 32 MB upload starved past its timeout
    waits for the headers deadline: h2 took 333 s, 0.02 worlds 80-165 s, on 1586418)."""
    from harness.experiment.factors import LAB

    outages = w.outages is not None and w.outages.active
    return (not outages, w.nat_timeout > LAB.t_max, -w.time_scale)


WORLD_STAGGER = 10.0  # real seconds between the starts of the first worlds searched at once
MITIGATION_WORLDS = 5  # worlds whose mitigation sessions run at once (each its own namespaces)


class _Mitigations:
    """The default mitigation set, one session each, for every world; rows go to
    mitigations.jsonl (rendered beside the falsification table). A world's sessions start
    when its probes end (`start`, from the search's thread), in a fresh RunningWorld, up to
    MITIGATION_WORLDS worlds at once; `finish` waits for all and writes the rows in the
    worlds' order; `stop` (Ctrl-C) ends them at their next attempt and waits for teardown."""

    def __init__(self, worlds: list, out: str, args: argparse.Namespace):
        from harness import mitigations as mit

        self.worlds, self.out, self.args, self.mit = worlds, out, args, mit
        self.session = mit.Session()
        self.turns = args.mitigation_turns or len(self.session.sizes)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._futures: dict[str, Future] = {}
        self._pool = ThreadPoolExecutor(max_workers=MITIGATION_WORLDS)
        print(f"mitigation sessions: {len(worlds)} worlds x {len(mit.DEFAULT)} mitigations x {self.turns} turns "
              f"(each world's after its probes, {MITIGATION_WORLDS} worlds at a time)", file=sys.stderr, flush=True)

    def _one(self, w) -> list[dict]:
        rows = self.mit.run_mitigations(w, self.mit.DEFAULT, self.turns, self.args.seed, session=self.session,
                                        backend=self.args.backend, stop=self._stop)
        with self._lock, open(os.path.join(self.out, "mitigations.jsonl"), "a") as f:  # kept as each world ends
            for row in rows:
                f.write(json.dumps(row, sort_keys=True) + "\n")
        print(f"  mitigations {w.name}: done", file=sys.stderr, flush=True)
        return rows

    def start(self, w) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._futures[w.name] = self._pool.submit(self._one, w)

    def finish(self) -> None:
        from harness.run import results

        try:
            done = results([self._futures[w.name] for w in self.worlds if w.name in self._futures])
        except BaseException:
            self.stop()
            raise
        self._pool.shutdown(wait=True)
        with open(os.path.join(self.out, "mitigations.jsonl"), "w") as f:  # all in: in the worlds' order
            for rows in done:
                for row in rows:
                    f.write(json.dumps(row, sort_keys=True) + "\n")

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            for fut in self._futures.values():
                fut.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _outage_windows(rw) -> list[dict]:
    log = rw.outage_log
    if log is None:
        return []
    offset = time.time() - time.monotonic()
    return [{"kind": w.kind, "began_wall": w.began + offset,
             "ended_wall": (w.ended + offset) if w.ended else None} for w in log.applied]


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import render

    if not os.path.isfile(os.path.join(args.dir, "probes.jsonl")):
        return _err(f"DIR: got {args.dir!r}; allowed a results folder holding probes.jsonl")
    render(args.dir)
    print(f"rendered {args.dir}/falsification.json, falsification.md, report.html")
    return 0


def estimate_cost(target, settings) -> float:
    """The whole adaptive plan's cost, pessimistic: every ladder level with its repeats, two
    failing ladders' treatments and bisections at the top level, heartbeats all along."""
    from harness.experiment import factors as fx
    from harness.experiment.search import SOAK_STREAM, SOAK_STREAMS

    r = target.ranges
    times = r.time_levels()
    specs = []
    # size x duration at the costliest size it can take: the biggest body still billed
    big = min(getattr(target, "free_above", r.size_max), r.size_max)
    for factor, levels in [("size", r.size_levels()), ("read_pace", r.pace_levels())] + [
            (f, times) for f in fx.TIME_FACTORS if f != "read_pace"]:
        for i, lv in enumerate(levels):
            n = settings.top_repeats if i >= len(levels) - 2 else settings.repeats
            specs += [fx.spec_for(factor, lv, r, big)] * n
    worst = fx.spec_for("duration", times[-1], r)
    specs += [worst] * (2 * settings.bisect_steps * settings.repeats + 2 * 2 * 3 * settings.treatment_repeats)
    run_s = max(4 * sum(times) + len(times) * times[-1], getattr(target, "min_run", 0.0))
    specs += [fx.heartbeat(r)] * int(run_s / max(0.25, r.watchdog / 4))
    # the soak's waves (Search.soak), as if the whole minimum run were soak
    soak = fx.spec_for("duration", SOAK_STREAM * r.short, r)
    specs += [soak] * int(SOAK_STREAMS * getattr(target, "min_run", 0.0) / soak.duration)
    return sum(target.cost(s) for s in specs)


def cmd_probe(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from harness import engine
    from harness.experiment.factors import EXTERNAL, base
    from harness.experiment.search import Search, Settings
    from harness.experiment.target import ExternalTarget
    from harness.report import render

    url = urlsplit(args.base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        return _err(f"--base-url: got {args.base_url!r}; allowed an http:// or https:// URL")
    if args.repeats < 1:
        return _err(f"--repeats: got {args.repeats}; allowed an integer >= 1")
    if args.max_cost_usd is not None and args.max_cost_usd < 0:
        return _err(f"--max-cost-usd: got {args.max_cost_usd}; allowed a number >= 0")
    if not 1 <= args.max_stream_s <= 7200:
        return _err(f"--max-stream-s: got {args.max_stream_s}; allowed seconds in [1, 7200]")
    if not 16_000 <= args.max_size <= 64 * 1024 * 1024:
        return _err(f"--max-size: got {args.max_size}; allowed bytes in [16000, 67108864]")
    if args.min_run_s is not None and not 0 <= args.min_run_s <= 86400:
        return _err(f"--min-run-s: got {args.min_run_s}; allowed seconds in [0, 86400]")
    if not os.environ.get(args.api_key_env):
        return _err(f"--api-key-env: got {args.api_key_env!r}; allowed the name of a set environment variable "
                    "holding the API key")
    ranges = replace(EXTERNAL, t_max=args.max_stream_s, size_max=args.max_size,
                     pace_max=min(EXTERNAL.pace_max, args.max_stream_s / 2))
    target = ExternalTarget(args.base_url, args.api_key_env, args.model, args.ca, args.max_cost_usd or 0.0, ranges,
                            lab_hints=args.lab_hints)
    if args.min_run_s is not None:
        target.min_run = args.min_run_s
    settings = Settings(repeats=args.repeats, seed=args.seed)
    if args.max_cost_usd is None:
        args.max_cost_usd = target.max_cost = float(math.ceil(estimate_cost(target, settings)))
    cheapest = target.cost(base(ranges))
    if cheapest > args.max_cost_usd:
        return _err(f"--max-cost-usd: got {args.max_cost_usd}; allowed at least {cheapest:.4f} (one base probe "
                    f"with {args.model})")
    cost = estimate_cost(target, settings)
    print(f"estimated cost: at most ${cost:.2f} with {args.model} for the whole adaptive plan (ladders "
          f"{ranges.t_min:g}-{ranges.t_max:g} s and up to {ranges.size_max / 1e6:g} MB; cap --max-cost-usd "
          f"{args.max_cost_usd:.2f}{': the cap will stop it early' if cost > args.max_cost_usd else ''})")
    if not args.yes:
        print("nothing sent: add --yes to run these probes")
        return 0
    name = f"{url.scheme}://{url.hostname}{':' + str(url.port) if url.port else ''}"
    target.name = name
    out = _out_dir(args.out)
    progress = Progress(0, name)
    write_partial(out, None)  # a folder reused with --out: no stale mark
    search = Search(target, settings, progress)
    interrupted = None
    try:
        search.run()
    except KeyboardInterrupt:
        interrupted = _hold_signals(args)
    finally:
        progress.close()
        with open(os.path.join(out, "probes.jsonl"), "w") as f:
            for rec in list(search.records):
                rec["probe"]["target"] = name
                f.write(json.dumps(rec, sort_keys=True) + "\n")
    if interrupted:
        return _write_interrupted(out, f"interrupted by {interrupted[0]} during the probes", interrupted[1])
    render(out)
    with open(os.path.join(out, "falsification.md")) as f:
        md = f.read()
    print(md.split("\n## ")[0].strip())
    spent = f"; spent at most ${target.spent:.2f}" + (f", {target.refused} probes refused by the cost cap"
                                                     if target.refused else "")
    print(f"\n{target.calibration}")
    print(f"results: {out}; alpha {engine.ALPHA}, Holm within each hypothesis{spent}")
    return 0
