"""python -m netem {cleanup [--dry-run] [--all] | bench [--json] | backends}"""

from __future__ import annotations

import argparse
import json
import sys


def cmd_cleanup(args: argparse.Namespace) -> int:
    from .registry import find_leftovers, sweep

    left = find_leftovers(include_live=args.all)
    for line in left.lines():
        print(("would remove " if args.dry_run else "removing ") + line)
    if not args.dry_run:
        sweep(left)
    if left.empty():
        print("nothing to clean up")
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    from .shaping import kernel_netem_available, resolve_backend

    info = {"kernel_netem": kernel_netem_available(), "auto": resolve_backend("auto")}
    print(json.dumps(info))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m netem", description="resetlab's network layer")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cleanup", help="remove leftovers of killed runs (prefix rl-)")
    c.add_argument("--dry-run", action="store_true", help="list what would be removed")
    c.add_argument("--all", action="store_true", help="also runs whose owner is still alive")
    c.set_defaults(fn=cmd_cleanup)
    b = sub.add_parser("bench", help="delay error, throughput, CPU, setup/teardown time")
    b.add_argument("--json", action="store_true", help="one JSON object per line")
    b.add_argument("--backend", default="userspace", choices=("userspace", "kernel"))
    b.add_argument("--delays", default="0,20,100", help="one-way delays in ms, comma-separated")
    b.add_argument("--seconds", type=float, default=3.0, help="bulk transfer duration")
    b.set_defaults(fn=cmd_bench)
    k = sub.add_parser("backends", help="which shaping backends this kernel supports")
    k.set_defaults(fn=cmd_backends)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
