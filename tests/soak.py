"""Soak: many short worlds, each ended by a random fate -- finished, Ctrl-C, SIGTERM, SIGKILL,
or a crashing worker (os._exit mid-probe, like a dying xdist worker) -- then a count of what
leaked: namespaces, host links, host nft tables, processes, files under /run/resetlab, and
any difference in the host namespace's network state (tests/netem/hoststate.py). All zero is
the pass.

    python -m tests.soak --worlds 100 [--parallel 2] [--seed 0] [--json]

No sweep runs in between: what a killed run leaves must go by itself (its reaper) within
GRACE seconds of the owner's end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from netem import names, nsexec, registry
from tests.netem.hoststate import snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRACE = 5.0
WORLDS = ("control", "h1-idle", "h2", "h3", "h4", "h5")
FATES = ("finish", "sigint", "sigterm", "sigkill", "crash")

# a worker that builds a world, probes it, and dies in the middle (no cleanup code runs)
CRASHER = """
import os, sys, threading
from harness.worlds import by_name
from harness.worlds.model import ProbeSpec
from harness.lab.runtime import RunningWorld
rw = RunningWorld(by_name(sys.argv[1])).__enter__()
threading.Timer(float(sys.argv[2]), lambda: os._exit(3)).start()
while True:
    rw.probe(ProbeSpec(size=1024, duration=5))
"""


# a short world that ends normally: built, probed twice, torn down
FINISHER = """
import sys
from harness.worlds import by_name
from harness.worlds.model import ProbeSpec
from harness.lab.runtime import RunningWorld
with RunningWorld(by_name(sys.argv[1])) as rw:
    for _ in range(2):
        rw.probe(ProbeSpec(size=1024, duration=5))
"""


def _argv(world: str, fate: str, after: float) -> list[str]:
    """Signals go to `harness run` (its search outlasts any `after`); the others are workers."""
    if fate == "crash":
        return [sys.executable, "-c", CRASHER, world, f"{after:.2f}"]
    if fate == "finish":
        return [sys.executable, "-c", FINISHER, world]
    return [sys.executable, "-m", "harness", "run", "--world", world, "--repeats", "1", "--no-mitigations",
            "--out", os.path.join(OUT, "results")]


def one(i: int, rng: random.Random) -> dict:
    world, fate, after = rng.choice(WORLDS), rng.choice(FATES), rng.uniform(0.5, 8.0)
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(_argv(world, fate, after), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    netns: set[str] = set()
    pids: set[int] = set()
    t0 = time.monotonic()
    signalled = False
    while proc.poll() is None:
        for rec in registry.owned_by(proc.pid):  # what it has made so far
            netns.update(rec.netns)
        for ns in netns:
            pids.update(nsexec.pids_in_netns(ns))
        if not signalled and fate in ("sigint", "sigterm", "sigkill") and time.monotonic() - t0 >= after:
            proc.send_signal({"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}[fate])
            signalled = True
        if time.monotonic() - t0 > 600:  # a finishing run is a few minutes at most
            proc.kill()
        time.sleep(0.05)
    ended = time.monotonic()
    # no sweep: wait up to GRACE for the run (or its reaper) to release everything
    while True:
        left_ns = sorted(n for n in netns if os.path.exists(nsexec.netns_path(n)))
        left_pids = sorted(p for p in pids if _alive(p))
        left_recs = [r.run_id for r in registry.owned_by(proc.pid)]
        if not (left_ns or left_pids or left_recs) or time.monotonic() - ended > GRACE:
            break
        time.sleep(0.05)
    return {"i": i, "world": world, "fate": fate, "after_s": round(after, 2), "exit": proc.returncode,
            "netns_seen": len(netns), "released_s": round(time.monotonic() - ended, 2),
            "leaked_netns": left_ns, "leaked_pids": left_pids, "leaked_records": left_recs,
            "runs": sorted({names.run_of_netns(n) for n in netns} - {None})}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _host_nft_tables() -> list[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if names.NFT_TABLE_RE.search(line.split()[-1] if line.split() else "")]


OUT = ""  # the interrupted runs' results: a temporary folder, removed at the end


def soak(n: int, parallel: int = 2, seed: int = 0) -> dict:
    global OUT
    OUT = tempfile.mkdtemp(prefix="rl-soak-")
    try:
        return _soak(n, parallel, seed)
    finally:
        shutil.rmtree(OUT, ignore_errors=True)


def _soak(n: int, parallel: int, seed: int) -> dict:
    before = snapshot()
    rng = random.Random(seed)
    plans = [random.Random(rng.random()) for _ in range(n)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        rows = list(pool.map(lambda i: one(i, plans[i]), range(n)))
    after = snapshot()
    runs = {r for row in rows for r in row["runs"]}
    files = sorted(f for f in os.listdir(registry.REGISTRY_DIR)
                   if f.split(".")[0] in runs) if os.path.isdir(registry.REGISTRY_DIR) else []
    leaks = {
        "netns": sum(len(r["leaked_netns"]) for r in rows)
        + len([ns for ns in nsexec.list_netns() if names.run_of_netns(ns) in runs]),
        "host_links": len([ln for ln in registry._host_links() if names.IFNAME_RE.match(ln)]),
        "host_nft_tables": len(_host_nft_tables()),
        "processes": sum(len(r["leaked_pids"]) for r in rows),
        "run_files": len(files) + sum(len(r["leaked_records"]) for r in rows),
        "host_state_diffs": sorted(k for k in before if before[k] != after[k]),
    }
    fates = {f: sum(1 for r in rows if r["fate"] == f) for f in FATES}
    released = sorted(r["released_s"] for r in rows)
    return {"worlds": n, "fates": fates, "wall_s": round(time.monotonic() - t0, 1),
            "release_s_median": released[len(released) // 2], "release_s_max": released[-1],
            "exits": sorted({str(r["exit"]) for r in rows}), "leaks": leaks,
            "clean": not any(leaks[k] for k in leaks), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worlds", type=int, default=100)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="the whole result, rows included")
    args = p.parse_args(argv)
    res = soak(args.worlds, args.parallel, args.seed)
    if args.json:
        print(json.dumps(res))
    else:
        print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=1))
    return 0 if res["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
