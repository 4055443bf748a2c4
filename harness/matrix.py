"""The matrix: cells of (world, probe) with repeats, and where their records go.

A cell's id carries the world name, so `pytest -k h1` selects exactly H1's cells.
Levels: `quick` (every world, smallest sizes, 1 repeat: what .ci/run runs) and
`standard` (all sizes, 3 repeats: `tox -e matrix`). Each hypothesis module's
`cells(level)` lists its probes; sizes are the field report's range.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from harness.outcome import ProbeRecord
from harness.worlds import ProbeSpec, World, module_of
from harness.worlds.prediction import Expect

SIZES = (1_000, 100_000, 1_000_000, 6_000_000, 10_000_000, 30_000_000)
LEVELS = ("quick", "standard")
REPEATS = {"quick": 1, "standard": 3}


def level() -> str:
    lv = os.environ.get("RESETLAB_MATRIX", "quick")
    if lv not in LEVELS:
        raise ValueError(f"RESETLAB_MATRIX: got {lv!r}; allowed one of {', '.join(LEVELS)}")
    return lv


def sizes(lv: str) -> tuple[int, ...]:
    return SIZES[:1] if lv == "quick" else SIZES


def human_size(n: int) -> str:
    for unit, k in (("MB", 1_000_000), ("KB", 1_000)):
        if n >= k:
            return f"{n / k:g}{unit}"
    return f"{n}B"


@dataclass(frozen=True)
class Cell:
    world: World
    probe: ProbeSpec
    repeats: int

    @property
    def id(self) -> str:
        p = self.probe
        parts = [self.world.name, f"size={human_size(p.size)}", f"dur={p.duration:g}s"]
        if p.longest_idle:
            parts.append(f"idle={p.longest_idle:g}s")
        if p.keepalive is not None:
            parts.append(f"ka={p.keepalive:g}s")
        if p.protocol != "http1":
            parts.append("http2c")  # not "h2c": `-k h2` must not pick other worlds' cells
        if p.read_pace is not None:
            parts.append(f"pace={p.read_pace:g}Bps")
        if p.h2_window is not None:
            parts.append(f"win={p.h2_window}")
        if p.think_time is not None:
            parts.append(f"think={p.think_time:g}s")
        return "-".join(parts)

    @property
    def expect(self) -> Expect:
        return module_of(self.world).expect(self.world, self.probe)


def cells(world: World, lv: str | None = None) -> list[Cell]:
    lv = lv or level()
    return [Cell(world, p, REPEATS[lv]) for p in module_of(world).cells(world, sizes(lv))]


def check(cell: Cell, records: list[ProbeRecord]) -> str | None:
    """None if the records match the cell's expectation, else why not (one line)."""
    exp = cell.expect
    kinds = [r.outcome for r in records]
    failed = [k for k in kinds if k != "completed"]
    if exp.rate is not None:
        from harness.stats import binomial_acceptance

        lo, hi = binomial_acceptance(exp.rate, len(records))
        if not lo <= len(failed) <= hi:
            return f"expected {lo}..{hi} of {len(records)} to fail (p={exp.rate[0]:.2f}), saw {kinds}"
        unexpected = [k for k in failed if k not in exp.kinds]
        return f"failures of unexpected kinds {unexpected}" if unexpected else None
    if exp.fails:
        wrong = [k for k in kinds if k not in exp.kinds]
        return f"expected every probe to fail as {sorted(exp.kinds)}, saw {kinds}" if wrong else None
    return f"expected every probe to complete, saw {kinds}" if failed else None


def results_dir() -> str:
    run = os.environ.setdefault("RESETLAB_RUN_ID", time.strftime("%Y%m%d-%H%M%S"))
    path = os.path.join(os.environ.get("RESETLAB_RESULTS", "results"), run)
    os.makedirs(path, exist_ok=True)
    return path


def append_records(records: list[ProbeRecord], cell_id: str | None = None) -> str:
    """Append to results/<run-id>/probes.jsonl (one write per line: safe across xdist workers)."""
    path = os.path.join(results_dir(), "probes.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for r in records:
            d = r.to_dict()
            if cell_id:
                d["probe"] = {**d["probe"], "cell": cell_id}
            os.write(fd, (json.dumps(d, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)
    return path
