"""The random-world self-check: draw worlds (strategies.py), run the falsification engine on
each as it would run on any world (`harness.run.falsify_world`: it is told nothing of the
draw), score the verdicts and boundaries against the truth (score.py), write
selfcheck.json + selfcheck.md + probes.jsonl.

    python -m harness.selfcheck --worlds 50 --seed 1 --out results/selfcheck

A few worlds run at once (`--parallel`, default 2: each RunningWorld has its own namespaces;
the machine has 2 cores and the engine already runs a stage's probes concurrently).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import score
from .strategies import Draw, draws


def engine_commit() -> str:
    """The commit of the tree the engine is imported from (+ "-dirty" with local changes);
    RESETLAB_ENGINE_COMMIT names it for a tree that is not a git checkout (an exported snapshot)."""
    if os.environ.get("RESETLAB_ENGINE_COMMIT"):
        return os.environ["RESETLAB_ENGINE_COMMIT"]
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        rev = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--", "harness"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return rev + ("-dirty" if dirty else "") if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def found_boundaries(result: dict, records: list[dict]) -> list[dict]:
    """The engine's boundaries (issue 12's contract), each size_x_duration one with the
    request size its ladder used (from the records), so a bytes x seconds truth converts."""
    b = result.get("boundaries")
    out = [dict(x) for x in b] if isinstance(b, list) else []
    sizes = [r["probe"].get("size") for r in records
             if str(r.get("probe", {}).get("arm", "")).startswith("size_x_duration@")]
    for x in out:
        if x.get("factor") == "size_x_duration" and sizes:
            x["size"] = max(s for s in sizes if s)
    return out


def run_one(d: Draw, index: int, backend: str, seed: int) -> tuple[dict, list[dict]]:
    from harness.run import falsify_world

    t0 = time.monotonic()
    row = {"index": index, "name": d.world.name, "truth": d.truth, "family": d.family, "draw": d.to_dict(),
           "true_boundaries": [b.to_dict() for b in d.boundaries]}
    try:
        records, result = falsify_world(d.world, backend=backend, seed=seed + index)
    except Exception as e:  # a world the lab could not run is reported, not hidden
        row.update({"error": f"{type(e).__name__}: {e}", "verdicts": {}, "found_boundaries": [],
                    "seconds": time.monotonic() - t0, "probes": 0})
        return row, []
    records = [r if isinstance(r, dict) else r.to_dict() for r in records]
    res = result.to_dict()
    row.update({"verdicts": {h: v["verdict"] for h, v in res["hypotheses"].items()},
                "evidence": {h: v.get("evidence", [])[:3] for h, v in res["hypotheses"].items()},
                "found_boundaries": found_boundaries(res, records), "seconds": time.monotonic() - t0,
                "probes": len(records)})
    row["boundary_errors"] = [score.boundary_error(b, row["found_boundaries"]) for b in row["true_boundaries"]]
    return row, records


def run_isolated(n: int, seed: int, family: str | None, edges: tuple[str, ...], index: int, backend: str,
                 out: str, timeout: float) -> tuple[dict, list[dict]]:
    """run_one in a child process (harness.selfcheck.one): a world whose engine hangs is
    stopped (SIGINT: the world tears down; SIGKILL after a grace) and reported, and the run
    goes on to the next world."""
    import signal

    path = os.path.join(out, "worlds", f"{index:03d}")
    os.makedirs(path, exist_ok=True)
    argv = [sys.executable, "-m", "harness.selfcheck.one", str(n), str(seed), family or "", ",".join(edges),
            str(index), backend, path]
    with open(os.path.join(path, "stderr.txt"), "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        t0 = time.monotonic()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            d = draws(n, seed, family, edges)[index]
            return ({"index": index, "name": d.world.name, "truth": d.truth, "family": d.family,
                     "draw": d.to_dict(), "true_boundaries": [b.to_dict() for b in d.boundaries], "verdicts": {},
                     "found_boundaries": [], "seconds": time.monotonic() - t0, "probes": 0,
                     "error": f"the engine did not finish this world within {timeout:g} s (stopped)"}, [])
        except BaseException:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    try:
        with open(os.path.join(path, "row.json")) as f:
            row = json.load(f)
        with open(os.path.join(path, "records.json")) as f:
            records = json.load(f)
    except (OSError, ValueError):
        with open(os.path.join(path, "stderr.txt")) as f:
            tail = f.read()[-400:].strip()
        d = draws(n, seed, family, edges)[index]
        row, records = ({"index": index, "name": d.world.name, "truth": d.truth, "family": d.family,
                         "draw": d.to_dict(), "true_boundaries": [b.to_dict() for b in d.boundaries],
                         "verdicts": {}, "found_boundaries": [], "seconds": time.monotonic() - t0, "probes": 0,
                         "error": f"world process exited {proc.returncode}: {tail}"}, [])
    return row, records


_LIVE: set = set()  # the world processes running now: an interrupt of the run stops them
_LIVE_LOCK = threading.Lock()


def stop_worlds() -> None:
    """SIGINT to every running world process (each tears its world down and exits): the
    interrupt reaches the runner's main thread, not the threads waiting on the worlds."""
    import signal

    with _LIVE_LOCK:
        for proc in _LIVE:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)


WORLD_TIMEOUT = 1800.0  # real seconds one world may take before it is stopped and reported


def run(n: int, seed: int, family: str | None = None, out: str | None = None, parallel: int = 2,
        backend: str = "auto", edges: tuple[str, ...] = ("builtin",), stream=sys.stderr,
        world_timeout: float = WORLD_TIMEOUT) -> dict:
    drawn = draws(n, seed, family, edges)
    out = out or os.path.join("results", time.strftime("selfcheck-%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    commit = engine_commit()
    print(f"selfcheck: {n} worlds (seed {seed}{', family ' + family if family else ''}), engine {commit}, "
          f"{parallel} at a time -> {out}", file=stream, flush=True)
    lock = threading.Lock()
    rows: list[dict] = []
    started = time.monotonic()

    def one(i: int, d: Draw) -> dict:
        with lock:
            print(f"  [{i + 1}/{n}] start {d.world.name} ts={d.world.time_scale:.4g} "
                  + " ".join(f"{b.factor}={b.value:.4g}" for b in d.boundaries), file=stream, flush=True)
        row, records = run_isolated(n, seed, family, edges, i, backend, out, world_timeout)
        with lock:
            rows.append(row)
            with open(os.path.join(out, "probes.jsonl"), "a") as f:
                for r in records:
                    f.write(json.dumps(r, sort_keys=True) + "\n")
            with open(os.path.join(out, "rows.jsonl"), "a") as f:  # kept as each world ends
                f.write(json.dumps(row, sort_keys=True, default=str) + "\n")
            v = " ".join(f"{h}:{row['verdicts'].get(h, '-')[:4]}" for h in score.HYPOTHESES)
            print(f"  [{len(rows)}/{n}] done  {d.world.name} ({d.truth}) {row['seconds']:.0f} s, "
                  f"{row['probes']} probes: {row.get('error') or v}", file=stream, flush=True)
        return row

    from harness.run import results

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(one, i, d) for i, d in enumerate(drawn)]
        try:
            results(futures)
        except BaseException:
            for f in futures:
                f.cancel()  # worlds not started yet
            stop_worlds()  # running ones tear down and end
            print("selfcheck: interrupted; stopping the worlds that were running", file=stream, flush=True)
            raise
    rows.sort(key=lambda r: r["index"])
    report = summarize(rows, {"worlds": n, "seed": seed, "family": family, "engine_commit": commit,
                              "parallel": parallel, "backend": backend, "edges": list(edges),
                              "wall_seconds": time.monotonic() - started})
    write(report, out)
    return report


def summarize(rows: list[dict], meta: dict) -> dict:
    ran = [r for r in rows if not r.get("error")]
    secs = sorted(r["seconds"] for r in ran)
    per_family: dict[str, list[float]] = {}
    for r in ran:
        per_family.setdefault(r["family"], []).append(r["seconds"])
    return {**meta, "confusion": score.confusion(ran), "criteria": [c.to_dict() for c in score.criteria(ran)],
            "boundary_errors": score.boundary_errors(ran), "errors": [r for r in rows if r.get("error")],
            "seconds_per_world": {"median": secs[len(secs) // 2] if secs else None,
                                  "max": secs[-1] if secs else None,
                                  "per_family_median": {f: sorted(v)[len(v) // 2] for f, v in per_family.items()}},
            "rows": rows}


def passed(report: dict) -> bool:
    return not report["errors"] and all(c["passed"] for c in report["criteria"])


def markdown(report: dict) -> str:
    crit = [score.Criterion(**c) for c in report["criteria"]]
    spw = report["seconds_per_world"]
    lines = [f"# Random-world self-check: {report['worlds']} worlds, seed {report['seed']}, "
             f"engine {report['engine_commit']}", "",
             f"Wall time {report['wall_seconds'] / 60:.1f} min ({report['parallel']} worlds at a time); "
             f"per world median {spw['median'] or 0:.0f} s, max {spw['max'] or 0:.0f} s.", "",
             "## Confusion matrix", "", score.confusion_markdown(report["confusion"]), "",
             "## Done-when criteria", "", score.criteria_markdown(crit), "",
             "## Boundary error (found interval vs true value, field units)", "",
             score.boundaries_markdown(report["boundary_errors"]), ""]
    if report["errors"]:
        lines += ["## Worlds that did not run", ""] + [f"- {r['name']}: {r['error']}" for r in report["errors"]] + [""]
    lines += ["## Worlds", "", "| world | truth | time scale | true boundaries | verdicts | found | s |",
              "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        tb = ", ".join(f"{b['factor']} {b['value']:.4g} {b['unit']}" for b in r["true_boundaries"]) or "-"
        fb = ", ".join(f"{b.get('factor')} {b.get('lo') or 0:.4g}-{b.get('hi'):.4g} {b.get('unit')}"
                       for b in score.found_only(r.get("found_boundaries", []))) or "-"
        v = " ".join(f"{h}:{r['verdicts'].get(h, '-')[:4]}" for h in score.HYPOTHESES)
        lines.append(f"| {r['name']} | {r['truth']} | {r['draw']['time_scale']:.4g} | {tb} | {r.get('error') or v} "
                     f"| {fb} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def write(report: dict, out: str) -> None:
    with open(os.path.join(out, "selfcheck.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True, default=str)
    with open(os.path.join(out, "selfcheck.md"), "w") as f:
        f.write(markdown(report))
