"""The search: a seeded Latin hypercube over the family's unit cube, then compass (pattern)
search from the best few points, then the best candidates re-scored on fresh seeds.

Every evaluation of the search phases uses the same simulation seeds (common random numbers),
so the objective is a deterministic function of the parameters and a pattern search is
well defined; the final ranking uses `confirm_seeds` other seeds, so a candidate that only
fits its own draw does not win. The time budget is split 40 % hypercube, 50 % refinement,
10 % re-scoring, and every phase stops at its share.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import family, score, surrogate


@dataclass
class Eval:
    params: dict[str, float]
    score: float
    components: dict[str, float]
    signature: float | None
    tables: dict
    seeds: tuple[int, ...] = ()
    sd: float = 0.0


@dataclass
class Result:
    best: list[Eval]  # re-scored on fresh seeds, best first
    evaluations: int
    seconds: float
    phases: dict[str, int] = field(default_factory=dict)  # evaluations per phase
    budget_s: float = 0.0
    seed: int = 0
    mechanisms: tuple[str, ...] = family.MECHANISMS


def evaluate(params: dict, ref: dict, mechanisms=family.MECHANISMS, seeds=(0,), scale: float = 1.0) -> Eval:
    """Score of `params` (mean over `seeds`); the tables are those of the first seed."""
    runs = []
    for s in seeds:
        t = score.tables(surrogate.simulate(params, mechanisms, seed=s, scale=scale), scale)
        comp = score.components(t, ref)
        runs.append((score.score(comp), comp, score.signature_distance(t, ref), t))
    comp = {c: statistics.fmean(r[1][c] for r in runs) for c in score.COMPONENTS}
    sigs = [r[2] for r in runs if r[2] is not None]
    return Eval(dict(params), statistics.fmean(r[0] for r in runs), comp,
                statistics.fmean(sigs) if sigs else None, runs[0][3], tuple(seeds),
                statistics.pstdev([r[0] for r in runs]) if len(runs) > 1 else 0.0)


def search(ref: dict, budget_s: float, seed: int = 0, mechanisms=family.MECHANISMS,
           free: tuple[str, ...] | None = None, fixed: dict[str, float] | None = None,
           n_lhs: int | None = None, starts: int = 3, keep: int = 3, confirm_seeds: int = 5,
           scale: float = 1.0, start: dict[str, float] | None = None, max_refine: int | None = None,
           search_seeds: int = 1,
           log: Callable[[str], None] | None = None) -> Result:
    """Search the family for the tables `ref` within `budget_s` seconds. `free`: the
    parameters searched (default all); the others come from `fixed` (default: mid-range).
    `start`: a point evaluated before the hypercube's (a warm start, e.g. for a refit).
    `n_lhs` / `max_refine`: fixed numbers of hypercube points / refinement evaluations per
    start (then the result does not depend on the machine's speed, within the budget).
    `search_seeds`: simulation seeds averaged per evaluation in the search phases."""
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    rng = random.Random(seed)
    free = tuple(free or family.NAMES)
    base = {p.name: p.value(0.5) for p in family.PARAMS} | dict(fixed or {})
    idx = [family.NAMES.index(n) for n in free]
    sim_seeds = tuple(range(1_000 + seed, 1_000 + seed + search_seeds))
    t0 = time.monotonic()
    phases = {"lhs": 0, "refine": 0, "rescore": 0}

    def params_of(x: list[float]) -> dict[str, float]:
        u = family.to_unit(base)
        for i, v in zip(idx, x, strict=True):
            u[i] = v
        return family.from_unit(u)

    def ev(x: list[float], phase: str) -> Eval:
        phases[phase] += 1
        return evaluate(params_of(x), ref, mechanisms, sim_seeds, scale)

    # 1. Latin hypercube (in the free dimensions)
    lhs_end = t0 + 0.4 * budget_s
    n = n_lhs or 10_000
    pts = [[row[i] for i in idx] for row in family.latin_hypercube(n, rng)]
    if start is not None:
        u = family.to_unit(base | start)
        pts.insert(0, [u[i] for i in idx])
    scored: list[tuple[float, list[float], Eval]] = []
    for k, x in enumerate(pts):
        if n_lhs is None and time.monotonic() > lhs_end and len(scored) >= starts:
            break
        e = ev(x, "lhs")
        scored.append((e.score, x, e))
        if (k + 1) % 50 == 0:
            b = min(scored, key=lambda s: s[0])
            log(f"[lhs {k + 1}] best score {b[0]:.3f} (signature {_f(b[2].signature)})  "
                f"{time.monotonic() - t0:.0f}/{budget_s:.0f} s")
    scored.sort(key=lambda s: s[0])
    log(f"[lhs] {len(scored)} points; best {scored[0][0]:.3f}")

    # 2. compass search from the best `starts` points, shared time
    refine_end = t0 + 0.9 * budget_s
    finals: list[tuple[float, list[float], Eval]] = []
    for si, (s0, x0, e0) in enumerate(scored[:starts]):
        stop = time.monotonic() + (refine_end - time.monotonic()) / (starts - si)
        x, best, e_best, h = list(x0), s0, e0, 0.125
        spent = phases["refine"]

        def left(stop=stop, spent=spent) -> bool:
            return time.monotonic() < stop and (max_refine is None or phases["refine"] - spent < max_refine)

        while h >= 1 / 256 and left():
            improved = False
            for d in rng.sample(range(len(idx)), len(idx)):
                for sgn in (1, -1):
                    y = list(x)
                    y[d] = min(1.0, max(0.0, y[d] + sgn * h))
                    if y[d] == x[d] or not left():
                        continue
                    e = ev(y, "refine")
                    if e.score < best:
                        x, best, e_best, improved = y, e.score, e, True
                        break
            if not improved:
                h /= 2
        log(f"[refine {si + 1}/{starts}] {s0:.3f} -> {best:.3f} (signature {_f(e_best.signature)}, step {h:.4f})  "
            f"{time.monotonic() - t0:.0f}/{budget_s:.0f} s")
        finals.append((best, x, e_best))

    # 3. re-score the distinct finalists and the next-best hypercube points on fresh seeds
    pool = finals + [s for s in scored[starts:starts + keep]]
    seeds = tuple(range(2_000 + seed, 2_000 + seed + confirm_seeds))
    best = []
    for _, x, _ in pool:
        phases["rescore"] += confirm_seeds
        best.append(evaluate(params_of(x), ref, mechanisms, seeds, scale))
    best.sort(key=lambda e: e.score)
    log(f"[rescore] {len(best)} candidates on {confirm_seeds} fresh seeds; best {best[0].score:.3f} "
        f"+- {best[0].sd:.3f}")
    return Result(best[:keep], sum(phases.values()), time.monotonic() - t0, phases, budget_s, seed,
                  tuple(mechanisms))


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
