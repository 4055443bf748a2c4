"""Ablation: the best world with one mechanism removed at a time, scored on the same seeds;
optionally re-fitted without it (a warm-started search), so that "the signature needs X"
means no setting of the other mechanisms makes up for X, not just that X's removal hurts.
"""

from __future__ import annotations

from . import family, search


def ablate(params: dict, ref: dict, mechanisms=family.MECHANISMS, seeds=(0, 1, 2, 3, 4),
           refit_s: float = 0.0, seed: int = 0, log=None) -> list[dict]:
    """Rows: the full world, then one per removed mechanism (score, signature distance,
    components; with `refit_s` > 0 also the refitted score without it)."""
    mechs = family.check_mechanisms(mechanisms)
    full = search.evaluate(params, ref, mechs, seeds)
    rows = [_row(None, full)]
    for m in family.MECHANISMS:
        if m not in mechs:
            continue
        rest = mechs - {m}
        row = _row(m, search.evaluate(params, ref, rest, seeds))
        if refit_s > 0:
            r = search.search(ref, refit_s, seed=seed, mechanisms=rest, start=params, starts=1, keep=1,
                              confirm_seeds=len(seeds), log=log)
            row["refit_score"] = round(r.best[0].score, 4)
            row["refit_signature"] = None if r.best[0].signature is None else round(r.best[0].signature, 4)
        rows.append(row)
    return rows


def _row(removed: str | None, e: search.Eval) -> dict:
    return {"removed": removed, "score": round(e.score, 4), "sd": round(e.sd, 4),
            "signature": None if e.signature is None else round(e.signature, 4),
            "components": {k: round(v, 3) for k, v in e.components.items()},
            "api_errors": e.tables["api_errors"]}


def render(rows: list[dict]) -> str:
    refit = any("refit_score" in r for r in rows)
    head = "| world | score | signature distance | retry_1 | retry_2 | large_share | econnreset | gaps | bursts |" \
        + (" refit score | refit signature |" if refit else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        c = r["components"]
        cells = [("best (all mechanisms)" if r["removed"] is None else f"without {r['removed']}"),
                 f"{r['score']:.3f} +- {r['sd']:.3f}", "-" if r["signature"] is None else f"{r['signature']:.3f}",
                 *(f"{c[k]:.2f}" for k in ("retry_1", "retry_2", "large_share", "econnreset", "gaps", "bursts"))]
        if refit:
            cells += [str(r.get("refit_score", "-")), str(r.get("refit_signature", "-"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n(component cells: |difference| to the field; 0 is the field)"
