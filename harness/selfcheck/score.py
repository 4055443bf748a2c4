"""Scoring the engine against drawn worlds' truth: the confusion matrix, the done-when
criteria (issue 12), and the boundary error. Pure functions of plain dicts, so the criteria
logic is tested on synthetic tables and can re-score a saved selfcheck.json.

A row is one world: {"truth": "control"|"h1".."h5", "verdicts": {h: verdict},
"true_boundaries": [{"factor", "value", "unit", "exact"}], "found_boundaries": [engine's
boundary dicts: {"factor", "lo", "hi", "unit", ...}]}.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

HYPOTHESES = ("h1", "h2", "h3", "h4", "h5")
VERDICTS = ("consistent", "falsified", "inconclusive")
TRUTHS = ("control", *HYPOTHESES)
OWN_CONSISTENT = 0.95  # the true hypothesis is consistent in at least this share of its worlds
OTHERS_FALSIFIED = 0.90  # every other hypothesis is falsified in at least this share
NEAR = 0.25  # a boundary outside its found interval by at most this (relative) counts as "near"


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def confusion(rows: list[dict]) -> dict[str, dict[str, dict[str, int]]]:
    """truth -> hypothesis -> verdict -> count."""
    out = {t: {h: dict.fromkeys(VERDICTS, 0) for h in HYPOTHESES} for t in TRUTHS}
    for r in rows:
        for h in HYPOTHESES:
            v = r["verdicts"].get(h, "inconclusive")
            out[r["truth"]][h][v if v in VERDICTS else "inconclusive"] += 1
    return out


def criteria(rows: list[dict]) -> list[Criterion]:
    """The done-when checks of issue 12 over a set of scored worlds."""
    out: list[Criterion] = []
    own = [r for r in rows if r["truth"] != "control"]
    control = [r for r in rows if r["truth"] == "control"]
    if own:
        bad = [r.get("name", "?") for r in own if r["verdicts"].get(r["truth"]) == "falsified"]
        out.append(Criterion("true hypothesis never falsified", not bad,
                             f"{len(bad)}/{len(own)} worlds falsified their own hypothesis"
                             + (f": {', '.join(bad[:8])}" if bad else "")))
        ok = sum(r["verdicts"].get(r["truth"]) == "consistent" for r in own)
        out.append(Criterion(f"true hypothesis consistent in >= {OWN_CONSISTENT:.0%}",
                             ok >= OWN_CONSISTENT * len(own), f"{ok}/{len(own)} ({ok / len(own):.0%})"))
    for h in HYPOTHESES:
        others = [r for r in own if r["truth"] != h]
        if not others:
            continue
        n = sum(r["verdicts"].get(h) == "falsified" for r in others)
        out.append(Criterion(f"{h} falsified in >= {OTHERS_FALSIFIED:.0%} of worlds where it is false",
                             n >= OTHERS_FALSIFIED * len(others), f"{n}/{len(others)} ({n / len(others):.0%})"))
    if control:
        consistent = [r.get("name", "?") for r in control if "consistent" in r["verdicts"].values()]
        mixed = [r.get("name", "?") for r in control
                 if not _all_falsified(r) and not _all_bounded(r) and r.get("name", "?") not in consistent]
        out.append(Criterion("control worlds: never consistent", not consistent,
                             f"{len(consistent)}/{len(control)} control worlds with a consistent hypothesis"))
        out.append(Criterion("control worlds: all-falsified or all-bounded", not mixed and not consistent,
                             f"{len(control) - len(mixed) - len(consistent)}/{len(control)}"
                             + (f"; mixed: {', '.join(mixed[:8])}" if mixed else "")))
    return out


def _all_falsified(r: dict) -> bool:
    return all(r["verdicts"].get(h) == "falsified" for h in HYPOTHESES)


def _all_bounded(r: dict) -> bool:
    # "nothing failed up to the range probed": no hypothesis consistent, those not falsified
    # inconclusive with a bound, and no boundary found (in a control world it would be false)
    return "consistent" not in r["verdicts"].values() and not found_only(r.get("found_boundaries") or [])


def found_only(found: list[dict]) -> list[dict]:
    """The engine's boundaries that are boundaries: found (its "no limit up to X" entries
    are ranges covered) with an upper end; a lower end "below the floor" counts as 0."""
    return [{**f, "lo": f.get("lo") or 0.0} for f in found if f.get("found", True) and f.get("hi") is not None]


def in_units_of(true: dict, found: dict) -> float | None:
    """The true value in the found boundary's unit: a bytes x seconds budget becomes stream
    seconds at the size the engine's size_x_duration ladder used (`size`)."""
    if found.get("unit") in (None, true["unit"]):
        return true["value"]
    if true["unit"] == "byte_s" and found.get("unit") == "s" and found.get("size"):
        return true["value"] / float(found["size"])
    return None


def boundary_error(true: dict, found: list[dict]) -> dict:
    """One true boundary against what the engine reported for its factor: the nearest found
    interval, whether it contains the truth, and the signed relative distance to it (0 inside,
    >0: the interval lies above the truth)."""
    same = [f for f in found_only(found) if f.get("factor") == true["factor"]]
    if not same:
        return {**true, "found": None, "status": "not found"}

    def dist(f: dict) -> float:
        v = in_units_of(true, f)
        if v is None:
            return float("inf")
        lo, hi = float(f["lo"]), float(f["hi"])
        return 0.0 if lo <= v <= hi else ((lo - v) / v if v < lo else (hi - v) / v)

    best = min(same, key=lambda f: abs(dist(f)))
    d, v = dist(best), in_units_of(true, best)
    if v is None:
        return {**true, "found": {k: best.get(k) for k in ("lo", "hi", "unit")}, "status": "unit mismatch"}
    status = "inside" if d == 0 else "near" if abs(d) <= NEAR else "off"
    return {**true, "value_in_found_unit": v, "found": {k: best.get(k) for k in ("lo", "hi", "unit", "size")},
            "rel_error": d, "rel_width": (float(best["hi"]) - float(best["lo"])) / v if v else None,
            "status": status}


def boundary_errors(rows: list[dict]) -> dict[str, dict]:
    """Per factor: how many true boundaries, found, inside their interval, near, and the
    median absolute relative error of those found; plus spurious boundaries (factors the
    world has no boundary on)."""
    per: dict[str, dict] = {}
    for r in rows:
        found = found_only(r.get("found_boundaries") or [])
        true_factors = {b["factor"] for b in r.get("true_boundaries", [])}
        for b in r.get("true_boundaries", []):
            e = boundary_error(b, found)
            # a soft truth (H3's 50% point, H4's measured drain factor) is kept apart from exact ones
            key = b["factor"] if b.get("exact", True) else f"{b['factor']} (soft)"
            s = per.setdefault(key, {"true": 0, "found": 0, "inside": 0, "near": 0, "errors": [],
                                     "spurious": 0, "unit": b["unit"]})
            s["true"] += 1
            if e["status"] != "not found":
                s["found"] += 1
                s["inside"] += e["status"] == "inside"
                s["near"] += e["status"] == "near"
                s["errors"].append(abs(e["rel_error"]))
        for f in found:
            if f.get("factor") not in true_factors:
                s = per.setdefault(f.get("factor", "?"), {"true": 0, "found": 0, "inside": 0, "near": 0,
                                                          "errors": [], "spurious": 0, "unit": f.get("unit")})
                s["spurious"] += 1
    for s in per.values():
        errs = s.pop("errors")
        s["median_abs_rel_error"] = statistics.median(errs) if errs else None
        s["max_abs_rel_error"] = max(errs) if errs else None
    return per


def confusion_markdown(conf: dict) -> str:
    lines = ["| truth \\ verdict | " + " | ".join(HYPOTHESES) + " |", "|---|" + "---|" * len(HYPOTHESES)]
    for t, row in conf.items():
        n = sum(row[HYPOTHESES[0]].values())
        if not n:
            continue
        cells = []
        for h in HYPOTHESES:
            c = row[h]
            cell = f"{c['consistent']} / {c['falsified']} / {c['inconclusive']}"
            cells.append(f"**{cell}**" if h == t else cell)
        lines.append(f"| {t} (n={n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\ncells: consistent / falsified / inconclusive; bold: the true hypothesis"


def boundaries_markdown(per: dict) -> str:
    lines = ["| factor | unit | true | found | inside | near (<=25%) | median abs rel error | spurious |",
             "|---|---|---|---|---|---|---|---|"]
    for f, s in sorted(per.items()):
        med = "-" if s["median_abs_rel_error"] is None else f"{s['median_abs_rel_error']:.0%}"
        lines.append(f"| {f} | {s['unit']} | {s['true']} | {s['found']} | {s['inside']} | {s['near']} | {med} "
                     f"| {s['spurious']} |")
    return "\n".join(lines)


def criteria_markdown(crit: list[Criterion]) -> str:
    return "\n".join(f"- [{'x' if c.passed else ' '}] {c.name}: {c.detail}" for c in crit)
