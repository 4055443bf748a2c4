"""`python -m harness.bench_matrix [--level quick|standard] [--json]`: the matrix's cost.

Runs the matrix cells with pytest -n 2 (as `tox -e matrix` does), then prints its wall
time, the sum of the emulated (scaled) durations of its probes, their ratio, and the
per-probe overhead above the emulated duration (median and p90 over completed probes; and
separately over probes with bodies <= 100 KB -- the lab's fixed cost -- and per MB of body
for bodies >= 1 MB).
Targets: standard matrix <= 5 minutes with -n 2; per-probe overhead <= 50 ms. Figures, not
a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from harness import jsonl
from harness.worlds import by_name

RTTS = 2  # TCP handshake + request/first byte: round trips every probe pays on the links


def emulated_seconds(rec: dict, scales: dict[str, tuple[float, float]]) -> float:
    """Scaled stream time plus the emulated links' round trips (link delays are not scaled),
    or, for a paced reader, the time its pace takes over the bytes it read (the lab's pace
    is the field pace / time_scale), if longer."""
    p = rec.get("probe", {})
    ts, rtt = scales.get(rec.get("world") or "", (0.0, 0.0))
    stream = (float(p.get("duration") or 0) + float(p.get("longest_idle") or 0)) * ts
    if p.get("read_pace"):
        stream = max(stream, float(rec.get("bytes_received") or 0) * ts / float(p["read_pace"]))
    return stream + float(p.get("think_time") or 0) * ts + RTTS * rtt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.bench_matrix", description=__doc__)
    ap.add_argument("--level", default="standard", choices=("quick", "standard"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    run_id = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    env = {**os.environ, "RESETLAB_MATRIX": args.level, "RESETLAB_RUN_ID": run_id}
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-m", "matrix", "-p", "no:cacheprovider"],
                         env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    path = os.path.join(env.get("RESETLAB_RESULTS", "results"), run_id, "probes.jsonl")
    recs = jsonl.read(path)
    scales = {}
    for r in recs:
        w = r.get("world")
        if w and w not in scales:
            try:
                world = by_name(w)
                rtt = 2 * (world.access.delay_ms + world.backbone.delay_ms) / 1000
                scales[w] = (world.time_scale, rtt)
            except ValueError:
                scales[w] = (0.0, 0.0)
    emulated = sum(emulated_seconds(r, scales) for r in recs)
    done = [r for r in recs if r["outcome"] == "completed"]
    overhead = sorted(r["t_total"] - emulated_seconds(r, scales) for r in done)
    # Small bodies show the lab's fixed cost per probe; big ones add the body's trip through
    # TCP slow start on the emulated links and the Python edge and origin (per MB below).
    small = sorted(r["t_total"] - emulated_seconds(r, scales) for r in done if r["probe"]["size"] <= 100_000)
    per_mb = sorted((r["t_total"] - emulated_seconds(r, scales)) / (r["probe"]["size"] / 1e6)
                    for r in done if r["probe"]["size"] >= 1_000_000)
    out = {"level": args.level, "probes": len(recs), "wall_s": round(wall, 1),
           "emulated_s": round(emulated, 1), "wall_over_emulated": round(wall / emulated, 2) if emulated else None,
           "overhead_median_ms": round(1000 * statistics.median(overhead), 1) if overhead else None,
           "overhead_p90_ms": round(1000 * overhead[int(0.9 * (len(overhead) - 1))], 1) if overhead else None,
           "overhead_small_median_ms": round(1000 * statistics.median(small), 1) if small else None,
           "overhead_small_p90_ms": round(1000 * small[int(0.9 * (len(small) - 1))], 1) if small else None,
           "body_ms_per_mb_median": round(1000 * statistics.median(per_mb), 1) if per_mb else None,
           "pytest_exit": res.returncode}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:<20} {v}")
        print("targets: standard wall <= 300 s with -n 2; overhead <= 50 ms per probe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
