"""Running one matrix cell inside pytest (shared by tests/<hypothesis>/test_*.py)."""

from __future__ import annotations

from dataclasses import replace

from .matrix import Cell, append_records, check

CONCURRENT_BYTES = 32_000_000


def run_cell(cell: Cell, world_runner) -> None:
    records = probe_cell(cell, world_runner)
    problem = check(cell, records)
    assert problem is None, f"{cell.id}: {problem}"


def probe_cell(cell: Cell, world_runner, backend: str = "auto") -> list:
    """Run the cell's repeats in its world (on `backend`); their records, appended to the run's."""
    rw = world_runner(cell.world, backend)
    if cell.world.outages.active or cell.probe.size * cell.repeats > CONCURRENT_BYTES:
        # Outage worlds keep their repeats in sequence: concurrent repeats would meet the
        # same outage together and their outcomes would not be independent draws. So do
        # cells uploading more than CONCURRENT_BYTES in all: on 2 cores their uploads through
        # the Python edge and origin slow each other by seconds, which moves timing-bound
        # outcomes (seen: one of three concurrent 30 MB h4 probes escaped its stall limit).
        records = [rw.probe(replace(cell.probe, seed=i)) for i in range(cell.repeats)]
    else:
        # Each repeat is its own connection from the client namespace: run them together,
        # so a cell costs about its longest probe rather than the sum.
        from concurrent.futures import ThreadPoolExecutor

        from .run import results

        with ThreadPoolExecutor(max_workers=cell.repeats) as pool:
            records = results([pool.submit(rw.probe, replace(cell.probe, seed=i)) for i in range(cell.repeats)])
    append_records(records, cell.id)
    return records
