"""python -m harness.selfcheck --worlds N --seed S [--family F] [--out DIR] [--parallel K]

Exit status: 0 every done-when criterion passed, 1 one failed (or a world did not run),
2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys

from netem.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    from . import runner
    from .strategies import EDGES, families_for

    ap = argparse.ArgumentParser(prog="python -m harness.selfcheck", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, default=50, help="how many worlds to draw (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", default=None, help="a family (h2-nat) or a hypothesis (h2); default all")
    ap.add_argument("--out", default=None, help="results folder (default results/selfcheck-<time>)")
    ap.add_argument("--parallel", type=int, default=2, help="worlds at a time (default 2)")
    ap.add_argument("--backend", default="auto", choices=("auto", "kernel", "userspace"))
    ap.add_argument("--edges", default="builtin",
                    help="comma-separated edges to draw from where the policy maps: builtin,nginx,haproxy")
    ap.add_argument("--world-timeout", type=float, default=None, metavar="S",
                    help="real seconds a world may take before it is stopped and reported (default 1800)")
    ap.add_argument("--list", action="store_true", help="print the drawn worlds and their truth, run nothing")
    args = ap.parse_args(argv)
    edges = tuple(e.strip() for e in args.edges.split(",") if e.strip())
    try:
        if not 1 <= args.worlds <= 10_000:
            raise ConfigError("--worlds", args.worlds, "an integer in [1, 10000]")
        if not 1 <= args.parallel <= 8:
            raise ConfigError("--parallel", args.parallel, "an integer in [1, 8]")
        for e in edges:
            if e not in EDGES:
                raise ConfigError("--edges", e, "a comma-separated subset of " + ",".join(EDGES))
        families_for(args.family)
        if args.world_timeout is not None and not 10 <= args.world_timeout <= 86400:
            raise ConfigError("--world-timeout", args.world_timeout, "seconds in [10, 86400]")
    except ConfigError as e:
        print(f"resetlab: error: {e}", file=sys.stderr)
        return 2
    if args.list:
        from .strategies import draws

        for d in draws(args.worlds, args.seed, args.family, edges):
            print(f"{d.world.name}: ts {d.world.time_scale:.4g} (drawn {d.time_scale_drawn:.4g}) "
                  + ", ".join(f"{b.factor} {b.value:.4g} {b.unit}{'' if b.exact else ' (soft)'}" for b in d.boundaries)
                  + f" {d.params}" + (f" [{'; '.join(d.notes)}]" if d.notes else ""))
        return 0
    from harness.interrupts import Signals

    with Signals() as signals:  # Ctrl-C / SIGTERM (also when started in the background): exit 130 / 143
        try:
            report = runner.run(args.worlds, args.seed, args.family, args.out, args.parallel, args.backend, edges,
                                world_timeout=args.world_timeout or runner.WORLD_TIMEOUT)
        except KeyboardInterrupt:
            signals.hold()
            print(f"selfcheck: interrupted ({signals.name}); the worlds that ran are in their folders",
                  file=sys.stderr)
            return signals.exit_status
    print(runner.markdown(report).split("## Worlds\n")[0].rstrip())
    return 0 if runner.passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())
