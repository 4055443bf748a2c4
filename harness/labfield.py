"""Lab vs field: real Claude Code sessions in each world, their logs through the field-log
analyzer, and each world's distance to the field report's signature.

    python -m harness lab-vs-field [--world NAME ...|--all] [--sessions N] [--max-retries N]
                                   [--persistent] [--think-time S] [--runtime node|bun]
                                   [--out DIR] [--json]
    python -m harness lab-vs-field --from DIR          # compare logs kept by an earlier run

For every world: `sessions` workload sessions (harness/workload.py: one interactive Claude
Code session of turns growing through 0.1, 1, 3 and 7 MB, each session its own HOME) in one
running world, kept under DIR/<world>/s<k>/; then harness.fieldlog.analyze(DIR/<world>)
gives the field report's tables for that world's logs, and harness/fieldlog/compare.py the
signature (retry recovery curve, share of errors from the >= 6 MB sessions) and its distance
to the field's (data/field-report.json). The closest world is named. DIR/lab-vs-field.json
holds every world's signature and distance.

Bounded by design: CLAUDE_CODE_MAX_RETRIES defaults to 3 (Claude Code's own backoff is real
time, 0.5 s doubling, not scaled), so the lab's recovery curve covers attempts 1..3 and the
comparison uses the components both sides define. Only failures before response headers
leave api_error records (measured: harness/clients/README.md), so a world whose resets all
happen mid-stream has no signature -- which is itself a statement about the field's 325.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from harness.workload import add_session_args
from netem.errors import ConfigError

DEFAULT_SESSIONS = 2
DEFAULT_RETRIES = 3


def run_world(world, out_dir: str, sessions: int = DEFAULT_SESSIONS, max_retries: int = DEFAULT_RETRIES,
              backend: str = "auto", seed: int = 0, **workload_kw) -> dict:
    """`sessions` Claude Code sessions in one running world; returns the analyzer report of
    their logs (kept under out_dir/s<k>/)."""
    from harness.fieldlog import analyze
    from harness.lab.runtime import RunningWorld
    from harness.workload import run_workload

    if not isinstance(sessions, int) or sessions < 1:
        raise ConfigError("sessions", sessions, "an integer >= 1")
    with RunningWorld(world, backend=backend) as rw:
        for k in range(sessions):
            sub = os.path.join(out_dir, f"s{k + 1}")
            os.makedirs(sub, exist_ok=True)
            run_workload(rw, max_retries=max_retries, out=sub, seed=seed + 100 * k, **workload_kw)
    return analyze([out_dir])


MAX_DEPTH = 6  # --out writes DIR/<world>/s<k>/projects/<project>/<session>.jsonl: 3 levels under <world>


def _has_sessions(folder: str) -> bool:
    """A *.jsonl within MAX_DEPTH levels (a bounded look: `--from /` must not walk the disk)."""
    base = folder.rstrip(os.sep).count(os.sep)
    for root, dirs, files in os.walk(folder):
        if any(f.endswith(".jsonl") for f in files):
            return True
        if root.count(os.sep) - base >= MAX_DEPTH:
            dirs.clear()
    return False


def from_folder(folder: str) -> dict[str, dict]:
    """{world: analyzer report} for each DIR/<world>/ holding session files."""
    from harness.fieldlog import analyze

    if not os.path.isdir(folder):
        raise ConfigError("--from", folder, "a folder written by `python -m harness lab-vs-field --out`")
    reports = {}
    for name in sorted(os.listdir(folder)):
        sub = os.path.join(folder, name)
        if os.path.isdir(sub) and _has_sessions(sub):
            reports[name] = analyze([sub])
    if not reports:
        raise ConfigError("--from", folder, "a folder with one sub-folder of session JSONL per world")
    return reports


def summary(reports: dict[str, dict]) -> dict:
    from harness.fieldlog import compare

    matches = compare.compare(reports)
    return {"field": compare.field_signature(), "closest": compare.closest(matches),
            "worlds": [m.to_dict() for m in matches], "text": compare.render(matches)}


# --- command line -------------------------------------------------------------------------

def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("lab-vs-field", help="real Claude Code sessions per world vs the field report's signature",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", action="append", default=[], metavar="NAME", help="a built-in world (repeatable)")
    p.add_argument("--all", action="store_true", help="every built-in world")
    p.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS, help="sessions per world")
    p.add_argument("--out", default=None, metavar="DIR", help="keep the logs here (default: a temp folder)")
    p.add_argument("--from", dest="from_dir", default=None, metavar="DIR",
                   help="compare the logs an earlier --out kept instead of running")
    add_session_args(p, max_retries=DEFAULT_RETRIES)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_cli)
    return p


def _err(msg: str) -> int:
    print(f"resetlab: error: {msg}", file=sys.stderr)
    return 2


def run_cli(args: argparse.Namespace) -> int:
    from harness.clients.common import NodeUnavailable
    from harness.worlds import NAMES, by_name

    try:
        if args.from_dir:
            reports = from_folder(args.from_dir)
            out = args.from_dir
        else:
            if not 1 <= args.sessions <= 50:
                raise ConfigError("--sessions", args.sessions, "an integer in [1, 50]")
            if not 0 <= args.max_retries <= 10:
                raise ConfigError("--max-retries", args.max_retries, "an integer in [0, 10]")
            worlds = [by_name(n) for n in (NAMES if args.all else args.world)]
            if not worlds:
                raise ConfigError("--world", None, "one or more of " + ", ".join(NAMES) + ", or --all")
            if not 0 <= args.think_time <= 86400:
                raise ConfigError("--think-time", args.think_time, "0..86400 field seconds")
            kw = {"persistent": args.persistent, "runtime": args.runtime, "think_time": args.think_time}
            out = args.out or tempfile.mkdtemp(prefix="rl-labfield-")
            reports = {}
            for w in worlds:
                print(f"{w.name}: {args.sessions} Claude Code session(s) ...", file=sys.stderr, flush=True)
                reports[w.name] = run_world(w, os.path.join(out, w.name), args.sessions, args.max_retries,
                                            args.backend, **kw)
    except (ValueError, NodeUnavailable) as exc:  # ConfigError is a ValueError
        return _err(str(exc))
    result = summary(reports)
    with open(os.path.join(out, "lab-vs-field.json"), "w") as f:
        json.dump({k: v for k, v in result.items() if k != "text"}, f, indent=2)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "text"}))
    else:
        print(result["text"], end="")
        print(f"logs and lab-vs-field.json: {out}")
    return 0
