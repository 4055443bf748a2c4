"""The falsification engine: which hypothesis does each measurement rule out?

The engine does not test fixed stress levels. For every factor it can vary it finds the
**boundary** where the target's outcome flips (harness/experiment/search.py: geometric
ladders from well below any plausible limit, bisection where the outcome flips, treatments
at the failing levels, heartbeats all along), and then checks each hypothesis's claims
against those boundaries and the failures' signatures (harness/experiment/judge.py):

    consistent    every claim that could be tested held, and its positive claims were seen
    falsified     Holm's step-down (alpha 0.05 within the hypothesis) rejects a claim, with
                  the probe, what was predicted and what was seen, and the range covered
    inconclusive  nothing contradicted, but a positive claim was not seen (what would settle it)

Everything here is computed from the recorded outcomes (harness/experiment/analysis.py);
nothing is read from the target's declared name or parameters. `decide` re-derives the same
table from a results folder's probes.jsonl.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.experiment.analysis import History, boundaries, history
from harness.experiment.judge import ALPHA, FAIL_PAST_LIMIT, Judge, Verdict, fmt

HYPOTHESES = ("h1", "h2", "h3", "h4", "h5")
SCHEMA_VERSION = 1
MDE = FAIL_PAST_LIMIT  # the judge's: a limit fails at least this share of the probes past it

__all__ = ["ALPHA", "HYPOTHESES", "MDE", "SCHEMA_VERSION", "Falsification", "Verdict", "decide"]


@dataclass
class Falsification:
    target: str
    verdicts: dict[str, Verdict]
    boundaries: list[dict]
    history: History
    partial: bool = False

    @property
    def h2c_supported(self) -> bool:
        return not self.history.h2c_unsupported

    @property
    def arms(self) -> dict[str, dict]:
        """Failures per arm (factor@level[+treatment]), for the report's detail table."""
        out: dict[str, dict] = {}
        for r in self.history.records:
            arm = r.get("probe", {}).get("arm")
            if not arm:
                continue
            a = out.setdefault(arm, {"name": arm, "n": 0, "failures": 0, "answered": 0, "kinds": {}})
            a["n"] += 1
            kind = r.get("outcome")
            if kind in ("http_error", "sse_error"):
                a["answered"] += 1
            elif kind != "completed":
                a["failures"] += 1
                a["kinds"][kind] = a["kinds"].get(kind, 0) + 1
        return out

    def to_dict(self) -> dict:
        n_fail, hit, n_hb, hb_failed = self.history.coincidences()
        return {"schema_version": SCHEMA_VERSION, "target": self.target, "alpha": ALPHA,
                "minimum_detectable_effect": MDE, "partial": self.partial,
                "boundaries": self.boundaries,
                "heartbeats": {"n": n_hb, "failed": hb_failed, "failed_probes": n_fail,
                               "failed_probes_with_heartbeat_failure": hit},
                "h2c_supported": self.h2c_supported,
                "arms": self.arms,
                "hypotheses": {h: {"verdict": v.verdict, "evidence": v.evidence or ["no evidence"],
                                   "untested": v.untested} for h, v in self.verdicts.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def boundary_lines(self) -> list[str]:
        out = []
        for b in self.boundaries:
            cov = f"{fmt(b['covered'][0], b['unit'])}-{fmt(b['covered'][1], b['unit'])}"
            a = b.get("answered")
            answered = (f"; answered (not failures) from {fmt(a['from'], b['unit'])}: "
                        + ", ".join(f"{k} x{v}" for k, v in sorted(a["kinds"].items())) if a else "")
            if not b["found"]:
                out.append(f"| {b['factor']} | no limit up to {fmt(b['lo'], b['unit'])} | {answered.lstrip('; ')} "
                           f"| {cov} |")
                continue
            where = ("before headers" if b["before_headers"] * 2 > b["failures"] else "after headers")
            lo = fmt(b["lo"], b["unit"]) if b["lo"] is not None else "below the floor"
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(b["kinds"].items()))
            asked = (f" (the streams' elapsed time; asked {fmt(b['asked'][0], b['unit'])}-"
                     f"{fmt(b['asked'][1], b['unit'])})" if b.get("measured") and b["asked"][0] is not None else "")
            out.append(f"| {b['factor']} | fails past {lo}-{fmt(b['hi'], b['unit'])}{asked} | {where}: {kinds}{answered} "
                       f"| {cov} |")
        return out

    def table(self) -> str:
        """The falsification table and the boundaries, as Markdown."""
        lines = [f"Falsification table for {self.target} (alpha {ALPHA}, Holm within each hypothesis)"
                 + (" -- PARTIAL: the run was interrupted" if self.partial else ""), "",
                 "| hypothesis | verdict | first evidence |", "|---|---|---|"]
        for h, v in self.verdicts.items():
            lines.append(f"| {h} | {v.verdict} | {v.evidence[0] if v.evidence else ''} |")
        lines += ["", "| factor | boundary | failures | range probed |", "|---|---|---|---|"]
        lines += self.boundary_lines()
        return "\n".join(lines)


def decide(target: str, records: list[dict], hypotheses: tuple[str, ...] = HYPOTHESES,
           partial: bool = False) -> Falsification:
    h = history(records)
    judge = Judge(h)
    return Falsification(target, {hyp: judge.verdict(hyp) for hyp in hypotheses}, boundaries(h), h, partial)
