"""Tables and distance: a surrogate run's logs as the analyzer's tables (the same shapes and
definitions as harness/fieldlog/tables.py), and their distance to the field report's.

Components, each in [0, 1]:

    retry_1 retry_2 retry_3+ large_share econnreset   harness/fieldlog/compare.py's signature
                                                      (|difference|; the lab-vs-field distance)
    gaps        total-variation distance between the gap-bucket shares (§3.7)
    bursts      |difference| of the share of errors inside 60 s bursts (§4.1: 181 / 325)
    hours       total-variation distance between the local hour-of-day shares (§4.2)
    days        |difference| of the share of errors on the three worst UTC days (§4.1: 241 / 325)
    synthetic   turns that died with a synthetic API Error per api_error, against the field's
                >= 30 per 325 (§1): 1 - ratio / want below it; above 3x that (the user would
                have reported hundreds), log10(ratio / 3 want), capped at 1; else 0
    volume      |log10(api_errors / 325)| at the field's session count (capped at 1)

The fit's score is the weighted root mean square of all eleven (WEIGHTS: 3 for the four the
issue's done-criterion names -- retry 1, retry 2, the >= 6 MB share, all ECONNRESET -- 1 for
the others; a first run with equal weights traded the ECONNRESET share for the temporal
tables); `signature_distance` is compare.distance on the first five, the number
lab-vs-field reports for real Claude Code.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

from harness.fieldlog import compare
from harness.fieldlog import field as field_report
from harness.fieldlog.tables import BURST_WINDOW, GAP_BUCKETS, SIZE_BUCKETS, gap_bucket

from .plot import hour_counts
from .surrogate import SimResult, local_hour, utc_of

COMPONENTS = ("retry_1", "retry_2", "retry_3+", "large_share", "econnreset", "gaps", "bursts",
              "hours", "days", "synthetic", "volume")
WEIGHTS = {c: 3.0 if c in ("retry_1", "retry_2", "large_share", "econnreset") else 1.0 for c in COMPONENTS}
FIELD_ERRORS = 325
FIELD_SYNTHETIC = 30  # "At least 30 turns died with a synthetic ... API Error message" (§1)


def bursts(times: list[float], window: float = BURST_WINDOW) -> dict:
    """Maximal runs of errors each within `window` s of the previous, >= 2 long (the analyzer's)."""
    times = sorted(times)
    count = inside = run = 0
    for i, ts in enumerate(times):
        run = run + 1 if i and ts - times[i - 1] <= window else 1
        if run == 2:
            count += 1
            inside += 2
        elif run > 2:
            inside += 1
    return {"window_s": window, "count": count, "errors_in_bursts": inside,
            "share": round(inside / len(times), 3) if times else 0.0}


def tables(sim: SimResult, scale: float = 1.0) -> dict:
    """The analyzer's tables (fieldlog JSON shapes) of a surrogate run. `scale`: the run's
    session scale, to state volume per the field's session count."""
    triggered, recovered = Counter(), Counter()
    for _, n, _, _, _ in sim.errors:
        triggered[n] += 1
    for n, ok in sim.chains:
        if ok:
            recovered[n] += 1
    curve = [{"attempt": n, "triggered": triggered[n], "recovered": recovered[n],
              "rate": round(recovered[n] / triggered[n], 3)} for n in sorted(triggered)]
    by_bucket = Counter(b for *_, b in sim.errors)
    gaps = Counter({name: 0 for name, _ in GAP_BUCKETS})
    for _, _, _, g, _ in sim.errors:
        gaps[gap_bucket(g)] += 1
    values = sorted(g for _, _, _, g, _ in sim.errors)
    hours = Counter(f"{local_hour(ts):02d}" for ts, *_ in sim.errors)
    days = Counter(utc_of(ts).strftime("%Y-%m-%d") for ts, *_ in sim.errors)
    return {
        "api_errors": len(sim.errors),
        # per the field's session count (a run cut short is extrapolated to all its sessions)
        "api_errors_per_field_sessions": len(sim.errors) / scale * sim.sessions
        / max(1, sim.simulated_sessions),
        "by_code": dict(Counter(c for _, _, c, _, _ in sim.errors)),
        "retry_curve": curve,
        "size_buckets": [{"bucket": name, "sessions": sim.sessions_by_bucket.get(name, 0),
                          "sessions_with_errors": sim.sessions_with_errors_by_bucket.get(name, 0),
                          "errors": by_bucket[name]} for name, _, _ in SIZE_BUCKETS],
        "gaps": dict(gaps),
        "gap_stats": {"median_s": round(statistics.median(values), 1) if values else None,
                      "p90_s": round(values[int(0.9 * (len(values) - 1))], 1) if values else None},
        "bursts": bursts([ts for ts, *_ in sim.errors]),
        "by_hour_local": {"tz": "UTC-05:00", "counts": dict(sorted(hours.items()))},
        "by_day_utc": dict(days.most_common()),
        "synthetic_turns": sim.synthetic_turns,
        "turns": sim.turns, "requests": sim.requests, "sessions": sim.sessions,
    }


def field_tables(path: str | None = None) -> dict:
    """The field report's tables, in the same shapes (data/field-report.json)."""
    f = lambda name: field_report.figure(name, path)  # noqa: E731
    return {"api_errors": f("api_errors"), "api_errors_per_field_sessions": f("api_errors"),
            "by_code": f("by_code"), "retry_curve": f("retry_curve"), "size_buckets": f("size_buckets"),
            "gaps": f("gaps"), "gap_stats": f("gap_stats"), "bursts": f("bursts"),
            "by_hour_local": f("by_hour_local"), "by_day_utc": f("by_day_utc"),
            "synthetic_turns": f("synthetic_api_errors")["count_at_least"]}


def _shares(counts: dict, keys) -> list[float]:
    total = sum(counts.get(k, 0) for k in keys)
    return [counts.get(k, 0) / total if total else 0.0 for k in keys]


def _tv(a: dict, b: dict, keys) -> float:
    return 0.5 * sum(abs(x - y) for x, y in zip(_shares(a, keys), _shares(b, keys), strict=True))


def _top3(days: dict) -> float:
    total = sum(days.values())
    return sum(sorted(days.values(), reverse=True)[:3]) / total if total else 0.0


def components(t: dict, ref: dict) -> dict[str, float]:
    """Each component's distance (module docstring); a signature component the run does not
    define (no api_error at attempt n, say) counts as 1 -- a world that cannot write the
    curve is as far as it gets."""
    a, b = compare.signature(t), compare.signature(ref)
    out = {c: 1.0 if a[c] is None or b[c] is None else abs(a[c] - b[c]) for c in compare.COMPONENTS}
    if not t["api_errors"]:
        return {c: 1.0 for c in COMPONENTS}
    gap_keys = [name for name, _ in GAP_BUCKETS]
    hour_keys = [f"{h:02d}" for h in range(24)]
    out["gaps"] = _tv(t["gaps"], ref["gaps"], gap_keys)
    out["bursts"] = abs(t["bursts"]["share"] - ref["bursts"]["share"])
    out["hours"] = _tv(hour_counts(t), hour_counts(ref), hour_keys)
    out["days"] = abs(_top3(t["by_day_utc"]) - _top3(ref["by_day_utc"]))
    want = ref["synthetic_turns"] / ref["api_errors"]
    ratio = t["synthetic_turns"] / t["api_errors"]
    out["synthetic"] = 0.0 if not want else max(0.0, 1 - ratio / want) if ratio < want else \
        min(1.0, math.log10(ratio / (3 * want))) if ratio > 3 * want else 0.0
    out["volume"] = min(1.0, abs(math.log10(t["api_errors_per_field_sessions"] / ref["api_errors_per_field_sessions"])))
    return out


def score(comp: dict[str, float], weights: dict[str, float] = WEIGHTS) -> float:
    return math.sqrt(sum(weights[c] * comp[c] ** 2 for c in COMPONENTS) / sum(weights.values()))


def signature_distance(t: dict, ref: dict) -> float | None:
    d, _ = compare.distance(compare.signature(t), compare.signature(ref))
    return d
