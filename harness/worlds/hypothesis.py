"""The one interface a hypothesis module declares: `HYPOTHESIS = Hypothesis(...)`.

    name           h1 .. h5, or control
    summary        one line: the mechanism
    predictions    per factor, the effect on failures (prediction.Effect: raises / none /
                   removes / together / any), and for treatments the ladders they are about
    kinds          outcome kinds its failures can take, per factor ("*" for the rest), in
                   the engine's terms (timeouts split: timeout_headers / timeout_body)
    raises_one_of  factors of which at least one must show a limit (empty: none required)
    world          the world factory (field units), expect (per-probe prediction for a world
                   built with known parameters), cells (the matrix's probes for a world)

The engine judges `predictions`, `kinds` and `raises_one_of` against what it measured; the
matrix asserts `expect` on `cells`. Printable: `print(HYPOTHESIS.table())`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .prediction import Effect


@dataclass(frozen=True)
class Hypothesis:
    name: str
    summary: str
    predictions: Mapping[str, Effect]
    kinds: Mapping[str, set[str]]
    world: Callable
    expect: Callable
    cells: Callable
    raises_one_of: tuple[str, ...] = field(default=())

    def allowed_kinds(self, factor: str) -> set[str]:
        return set(self.kinds.get(factor, self.kinds.get("*", set())))

    def table(self) -> str:
        rows = [f"{self.name}: {self.summary}"]
        for f, e in self.predictions.items():
            scope = f" (on {', '.join(e.on)})" if e.on else ""
            rows.append(f"  {f:<16} {e.effect:<9} {e.why}{scope}")
        if self.raises_one_of:
            rows.append(f"  at least one of {', '.join(self.raises_one_of)} shows a limit")
        rows.append("  failures look like: " + "; ".join(f"{k}: {', '.join(sorted(v)) or 'none'}"
                                                      for k, v in self.kinds.items()))
        return "\n".join(rows)
