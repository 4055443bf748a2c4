"""Checking a drawn world's truth against the lab itself: one probe at LOW x and one at
HIGH x the true boundary, along the boundary's factor, in the running world. The truth says
the first completes and the second fails (read pace as the time a window takes to drain).
This checks the generator (and the hypothesis module's expect(), which says the same)
against what the lab does, independently of the engine.

Soft boundaries (H3's probability) are not checked this way: one probe is one coin toss.
"""

from __future__ import annotations

from dataclasses import replace

from .strategies import Boundary, Draw, probe_at

LOW, HIGH = 0.5, 2.0


def should_fail(b: Boundary, factor: float) -> bool:
    return factor > 1


def probes(d: Draw) -> list[tuple[Boundary, float]]:
    return [(b, k) for b in d.boundaries if b.exact or b.factor == "read_pace" for k in (LOW, HIGH)]


def real_seconds(d: Draw) -> float:
    """Rough real time of the slowest check probe (for choosing quick worlds in tests)."""
    worst = 0.0
    for b, k in probes(d):
        p = probe_at(d, b, k)
        field = p.duration + p.longest_idle + (p.think_time or 0)
        worst = max(worst, field * d.world.time_scale)
    if any(b.factor == "size" for b in d.boundaries):
        worst = max(worst, d.world.edge_policy.first_byte_timeout * d.world.time_scale)
    return worst


def check(rw, d: Draw, repeats: int = 1) -> list[dict]:
    """Run the check probes in the RunningWorld `rw` of draw `d`; one row per probe."""
    rows = []
    for b, k in probes(d):
        spec = probe_at(d, b, k)
        for i in range(repeats):
            rec = rw.probe(replace(spec, seed=i))
            failed = rec.outcome != "completed"
            rows.append({"world": d.world.name, "factor": b.factor, "times_boundary": k, "value": b.value * k,
                         "unit": b.unit, "expected_fail": should_fail(b, k), "failed": failed,
                         "outcome": rec.outcome, "agrees": failed == should_fail(b, k)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """python -m harness.selfcheck.labcheck --worlds N --seed S [--family F]: each drawn world's
    truth against the lab (LOW x and HIGH x its boundary); exit 1 on a disagreement."""
    import argparse
    import json
    import sys

    from harness.lab.runtime import RunningWorld

    from .strategies import draws

    ap = argparse.ArgumentParser(prog="python -m harness.selfcheck.labcheck", description=main.__doc__)
    ap.add_argument("--worlds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", default=None)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    rows = []
    for d in draws(args.worlds, args.seed, args.family):
        if not probes(d):
            continue
        with RunningWorld(d.world) as rw:
            got = check(rw, d, args.repeats)
        for r in got:
            r.update({"family": d.family, "time_scale": d.world.time_scale, "params": d.params})
            print(f"{'ok ' if r['agrees'] else 'BAD'} {d.world.name} ts={d.world.time_scale:.4g} {r['factor']} "
                  f"{r['times_boundary']}x = {r['value']:.4g} {r['unit']}: {r['outcome']}"
                  f" (truth: {'fails' if r['expected_fail'] else 'completes'})", flush=True)
        rows += got
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2, default=str)
    bad = [r for r in rows if not r["agrees"]]
    print(f"{len(rows) - len(bad)}/{len(rows)} probes agree with the drawn truth", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
