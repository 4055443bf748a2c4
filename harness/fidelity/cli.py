"""`python -m harness fidelity`: run the client fidelity matrix, write JSON + Markdown."""

from __future__ import annotations

import argparse
import sys

from netem.errors import ConfigError


def _pick(kind: str, given: str | None, table: dict, default: tuple) -> list:
    names = default if given is None else [n.strip() for n in given.split(",") if n.strip()]
    for n in names:
        if n not in table:
            raise ConfigError(f"--{kind}", n, ", ".join(table))
    return [table[n] for n in names]


def add_parser(sub) -> None:
    p = sub.add_parser("fidelity", help="the client fidelity matrix: what each client says vs the wire",
                       description=__doc__)
    p.add_argument("--clients", help="comma-separated (default: all)")
    p.add_argument("--events", help="comma-separated (default: all)")
    p.add_argument("--quick", action="store_true", help="the quick subset (HTTP clients, one event per family)")
    p.add_argument("--jobs", type=int, default=3, help="concurrent lanes, each with its own worlds [3]")
    p.add_argument("--out", default="fidelity-out", help="folder for fidelity.json and fidelity.md")
    p.add_argument("--backend", default="auto", help="link backend (auto | kernel | userspace)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from .clients import BY_NAME as CLIENTS
    from .clients import QUICK as QUICK_CLIENTS
    from .events import BY_NAME as EVENTS
    from .events import QUICK as QUICK_EVENTS
    from .matrix import markdown, run_matrix, write

    try:
        if not 1 <= args.jobs <= 16:
            raise ConfigError("--jobs", args.jobs, "1..16")
        clients = _pick("clients", args.clients, CLIENTS, QUICK_CLIENTS if args.quick else tuple(CLIENTS))
        events = _pick("events", args.events, EVENTS, QUICK_EVENTS if args.quick else tuple(EVENTS))
    except ConfigError as e:
        print(f"fidelity: error: {e}", file=sys.stderr)
        return 2

    def progress(cell) -> None:
        d = cell.to_dict()
        state = d["skipped"] and "n/a" or d["error"] or f"{d['client_label']} / wire {d['wire_label']}"
        print(f"  {cell.client:16} {cell.event:22} {state} ({cell.seconds} s)", file=sys.stderr, flush=True)

    result = run_matrix(clients, events, jobs=args.jobs, backend=args.backend, progress=progress)
    js, md = write(result, args.out)
    print(markdown(result, detail=False))
    print(f"wrote {js} and {md}")
    return 0
