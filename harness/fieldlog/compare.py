"""Lab vs field: how close is a world's Claude Code log signature to the field report's?

A *signature* is taken from an analyzer report (``harness.fieldlog.analyze(...)``, the
field-log JSON) -- the same function for the lab's logs and, through data/field-report.json,
for the field's own figures:

    retry_1     recovery rate at retry attempt 1 (recovered / triggered)
    retry_2     recovery rate at retry attempt 2
    retry_3+    pooled per-step recovery rate over attempts >= 3 (sum recovered / sum triggered)
    large_share share of the size-bucketed api_errors that come from the largest bucket (>= 6 MB)
    econnreset  share of the api_errors with a known cause.code that are ECONNRESET -- known
                only where Claude Code ran on Bun (its native build, the field's): on Node
                it writes cause {} and the analyzer counts "unknown", so this is undefined

The field's values (§3.6, §3.5, §3.1 of the report): 0.636, 0.225, 0.097, 0.746, 1.0 (all
325 are ECONNRESET). A component is defined only where its denominator is > 0. The distance
between two signatures is the root mean square of the differences over the components both
define (each in [0, 1], so is the distance); the components used are reported with it. A
world whose Claude Code logs hold no api_error record has no signature: it cannot have
produced the field's 325 records (Claude Code writes api_error only for failures before
response headers), and ranks last.

Verdicts elsewhere never read this: it only says which world's *logs* look most like the
field's, to point at the mechanism worth probing on the real endpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import field
from .model import UNKNOWN_CODE

COMPONENTS = ("retry_1", "retry_2", "retry_3+", "large_share", "econnreset")
FEW = 10  # api_error records below which a world's rates are flagged as too few to read
LARGEST = ">=6MB"


def _rate(num: float, den: float) -> float | None:
    return num / den if den else None


def signature(report: dict) -> dict[str, float | None]:
    """Signature of an analyzer report (or anything with its retry_curve / size_buckets)."""
    curve = {int(r["attempt"]): r for r in report.get("retry_curve") or []}

    def at(n: int) -> float | None:
        r = curve.get(n)
        return _rate(r["recovered"], r["triggered"]) if r else None

    tail = [r for n, r in curve.items() if n >= 3]
    buckets = report.get("size_buckets") or []
    errors = sum(b.get("errors") or 0 for b in buckets)
    large = sum(b.get("errors") or 0 for b in buckets if b.get("bucket") == LARGEST)
    codes = {k: v for k, v in (report.get("by_code") or {}).items() if k != UNKNOWN_CODE}
    return {"retry_1": at(1), "retry_2": at(2),
            "retry_3+": _rate(sum(r["recovered"] for r in tail), sum(r["triggered"] for r in tail)),
            "large_share": _rate(large, errors),
            "econnreset": _rate(codes.get("ECONNRESET", 0), sum(codes.values()))}


def field_signature(path: str | None = None) -> dict[str, float | None]:
    """The field report's signature (data/field-report.json: §3.6 retry curve, §3.5 sizes,
    §3.1 codes)."""
    return signature({"retry_curve": field.figure("retry_curve", path),
                      "size_buckets": field.figure("size_buckets", path),
                      "by_code": field.figure("by_code", path)})


def distance(a: dict[str, float | None], b: dict[str, float | None]) -> tuple[float | None, list[str]]:
    """(RMS difference over the components both define, those components); (None, []) if none."""
    used = [c for c in COMPONENTS if a.get(c) is not None and b.get(c) is not None]
    if not used:
        return None, []
    return math.sqrt(sum((a[c] - b[c]) ** 2 for c in used) / len(used)), used


@dataclass(frozen=True)
class Match:
    world: str
    api_errors: int
    signature: dict[str, float | None]
    distance: float | None
    used: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"world": self.world, "api_errors": self.api_errors, "signature": self.signature,
                "distance": self.distance, "components": list(self.used)}


def compare(reports: dict[str, dict], field_sig: dict[str, float | None] | None = None) -> list[Match]:
    """Matches for {world: analyzer report}, closest first (worlds without a signature last)."""
    ref = field_sig or field_signature()
    out = []
    for world, rep in reports.items():
        sig = signature(rep)
        d, used = distance(sig, ref)
        n = (rep.get("totals") or {}).get("api_errors", sum(r["triggered"] for r in rep.get("retry_curve") or []))
        out.append(Match(world, int(n), sig, None if d is None else round(d, 4), tuple(used)))
    return sorted(out, key=lambda m: (m.distance is None, m.distance or 0.0, m.world))


def closest(matches: list[Match]) -> str | None:
    return matches[0].world if matches and matches[0].distance is not None else None


def render(matches: list[Match], field_sig: dict[str, float | None] | None = None) -> str:
    ref = field_sig or field_signature()

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    lines = ["| world | api_errors | " + " | ".join(COMPONENTS) + " | distance to field |",
             "|---|---|" + "---|" * len(COMPONENTS) + "---|",
             "| field report | 325 | " + " | ".join(f(ref[c]) for c in COMPONENTS) + " | 0 |"]
    for m in matches:
        dist = "no api_error records" if m.distance is None else \
            f"{m.distance:.3f}" + ("" if len(m.used) == len(COMPONENTS) else f" (on {', '.join(m.used)})")
        lines.append(f"| {m.world} | {m.api_errors} | " + " | ".join(f(m.signature[c]) for c in COMPONENTS)
                     + f" | {dist} |")
    name = closest(matches)
    lines += ["", f"closest world: {name}" if name else "closest world: none (no world logged an api_error)"]
    few = [m.world for m in matches if 0 < m.api_errors < FEW]
    if few:
        lines.append(f"few records ({', '.join(few)}: < {FEW} api_errors): their rates are a draw or two, "
                     "not a curve -- run more sessions (--sessions) before reading the distance")
    return "\n".join(lines) + "\n"
