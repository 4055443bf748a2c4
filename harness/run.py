"""Running the falsification engine against a built-in world (or any RunningWorld).

Probes of one stage run concurrently (each is its own connection from the client
namespace), so a stage costs about its longest probe rather than the sum.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace

from harness import engine
from harness.outcome import ProbeRecord
from harness.worlds.model import ProbeSpec, World
from harness.worlds.runtime import RunningWorld

DEFAULT_REPEATS = 6
STAGGER = 2.0  # real seconds over which a stage's probe starts are spread (seeded)


def run_arms(rw: RunningWorld, arms: list[tuple[str, ProbeSpec]], repeats: int, parallel: int = 16,
             progress=None, stagger: float = STAGGER, seed: int = 0) -> list[ProbeRecord]:
    """Every arm x repeat, concurrently. Start times are spread over `stagger` seconds so
    that repeats sample a random process (outages) independently instead of all meeting
    the same moment of it."""
    rng = random.Random(seed)
    jobs = [(name, replace(spec, seed=i), rng.uniform(0, stagger)) for name, spec in arms for i in range(repeats)]

    def one(job: tuple[str, ProbeSpec, float]) -> ProbeRecord:
        name, spec, delay = job
        time.sleep(delay)
        rec = rw.probe(spec)
        rec.probe["arm"] = name
        if progress:
            progress(rec)
        return rec

    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(jobs)))) as pool:
        return results([pool.submit(one, job) for job in jobs])


def results(futures: list[Future]) -> list:
    """Each future's result, in order, waiting in short slices: a main thread blocked in a
    bare Future.result() does not see Ctrl-C when another thread took the signal, so the
    KeyboardInterrupt (and the worlds' teardown) would wait for the slowest probe."""
    while True:
        done, pending = wait(futures, timeout=0.2)
        if not pending or any(f.exception() is not None for f in done):
            return [f.result() for f in futures]


def falsify_running(rw: RunningWorld, target: str, repeats: int = DEFAULT_REPEATS, parallel: int = 16,
                    progress=None, seed: int = 0) -> tuple[list[ProbeRecord], engine.Falsification]:
    records = run_arms(rw, engine.plan(), repeats, parallel, progress, seed=seed)
    rates = engine.tally([r.to_dict() for r in records])
    records += run_arms(rw, engine.plan({k: a.rate for k, a in rates.items()}), repeats, parallel, progress,
                        seed=seed + 1)
    return records, engine.decide(target, [r.to_dict() for r in records])


def falsify_world(world: World, repeats: int = DEFAULT_REPEATS, backend: str = "auto", parallel: int = 16,
                  progress=None, seed: int = 0) -> tuple[list[ProbeRecord], engine.Falsification]:
    with RunningWorld(world, backend=backend) as rw:
        return falsify_running(rw, f"world {world.name}", repeats, parallel, progress, seed)
