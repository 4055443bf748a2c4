"""Running the falsification engine against a built-in world (or any RunningWorld)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, wait

from harness import engine
from harness.experiment.search import Search, Settings
from harness.experiment.target import LabTarget
from harness.lab.runtime import RunningWorld
from harness.worlds.model import World

# Set by a Ctrl-C (or SIGTERM, harness/interrupts.py) seen by the main thread: worker threads
# waiting in results() -- a world's search inside a pool of worlds -- stop too, instead of
# running their whole plan before the pool can exit.
STOP = threading.Event()


def results(futures: list[Future], stop: threading.Event | None = None) -> list:
    """Each future's result, in order, waiting in short slices: a main thread blocked in a
    bare Future.result() does not see Ctrl-C when another thread took the signal, so the
    KeyboardInterrupt (and the worlds' teardown) would wait for the slowest probe. A set
    `stop` (a search's own, Settings.stop) ends the wait the same way."""
    try:
        while True:
            if (STOP.is_set() and threading.current_thread() is not threading.main_thread()) or (
                    stop is not None and stop.is_set()):
                raise KeyboardInterrupt("the run was interrupted")
            done, pending = wait(futures, timeout=0.2)
            if not pending or any(f.exception() is not None for f in done):
                return [f.result() for f in futures]
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            STOP.set()
        for f in futures:  # the pool's exit would otherwise run every queued job first
            f.cancel()
        raise


def falsify_running(rw: RunningWorld, target: str, settings: Settings | None = None,
                    progress=None) -> tuple[list[dict], engine.Falsification]:
    records = Search(LabTarget(rw, target), settings, progress).run()
    return records, engine.decide(target, records)


def falsify_world(world: World, backend: str = "auto", settings: Settings | None = None,
                  progress=None, seed: int = 0) -> tuple[list[dict], engine.Falsification]:
    settings = settings or Settings(seed=seed)
    with RunningWorld(world, backend=backend) as rw:
        return falsify_running(rw, f"world {world.name}", settings, progress)
