"""What a hypothesis predicts, as data: per probe factor, the effect on failures.

Effects: "raises" (more of this factor, more failures), "none" (no effect), "removes"
(the factor's treatment makes failures go away), "together" (canary: a failure takes the
canary connection down at the same time), "any" (the hypothesis allows either: not a
test of it). Each hypothesis module states its table next to its world factory, plus
KINDS: the outcome kinds its failures can take (per probe arm; "*" for every arm) and,
optionally, RAISES_ONE_OF: factors of which at least one must raise failures. The
falsification engine compares these claims with what probes observed.

`Expect` is the per-probe prediction a matrix cell asserts for a world built with known
parameters: does this probe fail, and as which outcome kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

EFFECTS = ("raises", "none", "removes", "together", "any")
FACTORS = ("size", "duration", "size_x_duration", "idle_gap", "keepalive", "protocol", "read_pace", "think_time",
           "canary", "heartbeat")


@dataclass(frozen=True)
class Effect:
    factor: str
    effect: str
    why: str
    # treatments only: the ladders whose failures the claim is about (empty: every ladder)
    on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        assert self.factor in FACTORS, self.factor
        assert self.effect in EFFECTS, self.effect
        assert all(f in FACTORS for f in self.on), self.on


@dataclass(frozen=True)
class Expect:
    fails: bool
    kinds: frozenset[str] = frozenset()  # outcome kinds a failure shows up as
    rate: tuple[float, float] | None = None  # for random worlds: expected failure probability range

    @classmethod
    def ok(cls) -> Expect:
        return cls(False)

    @classmethod
    def failure(cls, *kinds: str) -> Expect:
        return cls(True, frozenset(kinds))


def table(*effects: Effect) -> dict[str, Effect]:
    return {e.factor: e for e in effects}
