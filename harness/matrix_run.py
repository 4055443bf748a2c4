"""Running one matrix cell inside pytest (shared by tests/<hypothesis>/test_*.py)."""

from __future__ import annotations

from dataclasses import replace

from .matrix import Cell, append_records, check


def run_cell(cell: Cell, world_runner) -> None:
    rw = world_runner(cell.world)
    records = [rw.probe(replace(cell.probe, seed=i)) for i in range(cell.repeats)]
    append_records(records, cell.id)
    problem = check(cell, records)
    assert problem is None, f"{cell.id}: {problem}"
