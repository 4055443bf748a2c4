"""Checking a drawn world's truth against the lab itself: one probe at LOW x and one at
HIGH x the true boundary, along the boundary's factor, in the running world. The truth says
the first completes and the second fails (read pace is the other way round: slower fails).
This checks the generator (and the hypothesis module's expect(), which says the same)
against what the lab does, independently of the engine.

Soft boundaries (H3's probability) are not checked this way: one probe is one coin toss.
"""

from __future__ import annotations

from dataclasses import replace

from .strategies import Boundary, Draw, probe_at

LOW, HIGH = 0.5, 2.0


def should_fail(b: Boundary, factor: float) -> bool:
    above = factor > 1
    return not above if b.factor == "read_pace" else above


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
