"""The falsification engine: which hypothesis does each measurement rule out?

Probes vary one factor at a time around a baseline (field units, scaled by the target's
time_scale), with repeats:

    arm          probe                                   compared with
    base         100 KB, 10 s stream                      -
    size         10 MB                                    base   (does size raise failures?)
    duration     300 s stream                             base
    size_x_duration  10 MB and 300 s together             base   (a bytes x seconds budget)
    idle_gap     240 s of silence mid-stream              base
    think_time   2nd request on a connection idle 450 s   base
    read_pace    HTTP/2, 4 KB window, reading 41 B/s      base
                 (field bytes per second: 2 KB/s in the lab at time_scale 0.02)
    <arm>+keepalive  the failing arm with TCP keepalive 30 s   <arm>  (does it remove them?)
    <arm>+protocol   the failing arm over the other protocol    <arm>
    <arm>+canary     the failing arm with an idle canary beside  base+canary (canary deaths:
                     each probe                                  does a failure take it down?)

A factor "raises" failures when its arm fails significantly more often than the base
(one-sided Fisher exact test, alpha 0.05); a treatment "removes" them when the treated
arm fails significantly less often than the failing arm. Each hypothesis module's claims
(PREDICTIONS, KINDS, RAISES_ONE_OF) are then checked against these observed effects:

    consistent    no claim contradicted
    falsified     a claim contradicted, with the probe, what was predicted and what was seen
    inconclusive  no contradiction, but a claim could not be tested with enough power
                  (the evidence says how many more repeats per arm would settle it)

Everything is computed from the recorded outcomes (records' `outcome` and `probe.arm`);
nothing is read from the target's declared name or parameters.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from harness.stats import fisher_one_sided, power_one_sided
from harness.worlds import MODULES
from harness.worlds.model import ProbeSpec

HYPOTHESES = ("h1", "h2", "h3", "h4", "h5")
ALPHA = 0.05
MDE = 0.8  # minimum detectable effect: failure rate p0 -> p0 + 0.8 (6 repeats: power 0.90)
POWER = 0.8
SCHEMA_VERSION = 1

BASE = ProbeSpec(size=100_000, duration=10)
STRESS = {
    "size": replace(BASE, size=10_000_000),
    "duration": replace(BASE, duration=300),
    "size_x_duration": replace(BASE, size=10_000_000, duration=300),  # an interaction, not one factor
    "idle_gap": replace(BASE, longest_idle=240),
    "think_time": replace(BASE, think_time=450),  # > Cloudflare's 400 s, > consumer NATs' 350 s
    "read_pace": replace(BASE, duration=8, protocol="h2c", read_pace=40.96, h2_window=4096),
}
TREATMENTS = ("keepalive", "protocol", "canary")
# "canary": the failing arm again with an idle canary connection beside each probe (opened
# first, checked with HEAD / when the probe ends); its deaths are compared with those of the
# canaries of base+canary, whose probes do not fail: does a failure take the sibling down?
CANARY_BASE = "base+canary"
FAILING = 0.5  # an arm with at least this failure rate gets treatments


def treated(arm: str, probe: ProbeSpec, treatment: str) -> ProbeSpec:
    if treatment == "keepalive":
        return replace(probe, keepalive=30)
    if treatment == "canary":
        return replace(probe, canary=True)
    return replace(probe, protocol="http1" if probe.protocol == "h2c" else "h2c",
                   h2_window=None if probe.protocol == "h2c" else probe.h2_window)


@dataclass
class Arm:
    name: str
    n: int = 0
    failures: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    canary_dead: int = 0
    canary_n: int = 0

    @property
    def rate(self) -> float:
        return self.failures / self.n if self.n else 0.0

    def text(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        return f"{self.failures}/{self.n} failed" + (f" ({kinds})" if kinds else "")


def tally(records: list[dict]) -> dict[str, Arm]:
    arms: dict[str, Arm] = {}
    for r in records:
        name = r.get("probe", {}).get("arm")
        if not name:
            continue
        a = arms.setdefault(name, Arm(name))
        a.n += 1
        if r["outcome"] != "completed":
            a.failures += 1
            a.kinds[r["outcome"]] = a.kinds.get(r["outcome"], 0) + 1
        canary = r.get("probe", {}).get("canary")
        if isinstance(canary, dict):
            a.canary_n += 1
            a.canary_dead += 0 if canary.get("alive") else 1
    return arms


@dataclass
class Effect:
    """An observed effect: `arm` vs `against` (one-sided Fisher, direction `more`)."""

    factor: str
    arm: str
    against: str
    more: bool  # True: does `arm` fail more than `against`; False: less
    p: float
    power: float
    significant: bool

    def text(self, arms: dict[str, Arm]) -> str:
        a, b = arms[self.arm], arms[self.against]
        if self.factor == "canary":
            return (f"canaries dead: {self.arm} {a.canary_dead}/{a.canary_n} ({a.text()}) vs {self.against} "
                    f"{b.canary_dead}/{b.canary_n} (one-sided Fisher p={self.p:.3f})")
        return f"{self.arm}: {a.text()} vs {self.against}: {b.text()} (one-sided Fisher p={self.p:.3f})"


def _effect(factor: str, arm: Arm, against: Arm, more: bool) -> Effect:
    if more:
        p = fisher_one_sided(arm.failures, arm.n, against.failures, against.n)
        power = power_one_sided(against.n, arm.n, against.rate, ALPHA, MDE)
    else:
        p = fisher_one_sided(against.failures, against.n, arm.failures, arm.n)
        power = power_one_sided(arm.n, against.n, max(0.0, against.rate - MDE), ALPHA, MDE)
    return Effect(factor, arm.name, against.name, more, p, power, p < ALPHA)


def observed_effects(arms: dict[str, Arm]) -> dict[str, list[Effect]]:
    out: dict[str, list[Effect]] = {}
    base = arms.get("base")
    if base is None:
        return out
    for factor in STRESS:
        if factor in arms:
            out.setdefault(factor, []).append(_effect(factor, arms[factor], base, more=True))
    for name, arm in arms.items():
        if "+" in name:
            stressed, treatment = name.split("+", 1)
            if treatment == "canary":
                control = arms.get(CANARY_BASE)
                if name != CANARY_BASE and control is not None and arm.canary_n and control.canary_n:
                    out.setdefault("canary", []).append(_canary_effect(arm, control))
            elif stressed in arms:
                out.setdefault(treatment, []).append(_effect(treatment, arm, arms[stressed], more=False))
    return out


def _canary_effect(arm: Arm, control: Arm) -> Effect:
    """Do canaries beside a failing arm die more often than beside probes that complete?"""
    p = fisher_one_sided(arm.canary_dead, arm.canary_n, control.canary_dead, control.canary_n)
    power = power_one_sided(control.canary_n, arm.canary_n, control.canary_dead / control.canary_n, ALPHA, MDE)
    return Effect("canary", arm.name, control.name, True, p, power, p < ALPHA)


def repeats_needed(p0: float, alpha: float = ALPHA, mde: float = MDE, target: float = POWER) -> int | None:
    for n in range(2, 61):
        if power_one_sided(n, n, p0, alpha, mde) >= target:
            return n
    return None


# Claims that predict an effect: (evidence when it is seen, when it is not seen with enough
# power, when the test is too weak to tell) -- {f} the factor, {why} the claim's reason.
EXPECTED = {
    "raises": ("{f} raises failures as predicted",
               "predicted {f} raises failures ({why}); observed no effect",
               "{f}: predicted raises, effect not significant at"),
    "removes": ("{f} removes failures as predicted",
                "predicted {f} removes failures ({why}); observed it does not",
                "{f}: predicted removes, not significant at"),
    "together": ("canaries die with the failing probes as predicted",
                 "predicted a failure takes the canary down too ({why}); observed the canaries live",
                 "canary: predicted together, not significant at"),
}


@dataclass
class Verdict:
    verdict: str  # consistent | falsified | inconclusive
    evidence: list[str] = field(default_factory=list)


def judge(hyp: str, arms: dict[str, Arm]) -> Verdict:
    """Check one hypothesis's claims against the observed arms."""
    mod = MODULES[hyp]
    effects = observed_effects(arms)
    falsified, untested, support = [], [], []
    n_base = arms["base"].n if "base" in arms else 0

    def need_more(effect: Effect) -> str:
        n = repeats_needed(arms[effect.against].rate)
        return f"{n - arms[effect.arm].n} more repeats per arm would settle it" if n else "needs far more repeats"

    for factor, claim in mod.PREDICTIONS.items():
        found = effects.get(factor, [])
        if claim.effect == "any" or not found:
            continue
        if claim.effect in EXPECTED:
            seen, not_seen, weak = EXPECTED[claim.effect]
            for e in found:
                if e.significant:
                    support.append(f"{seen.format(f=factor)}: {e.text(arms)}")
                elif e.power >= POWER:
                    falsified.append(f"{not_seen.format(f=factor, why=claim.why)}: {e.text(arms)}")
                else:
                    untested.append(f"{weak.format(f=factor)} power {e.power:.2f}; {need_more(e)}")
        elif claim.effect == "none":
            for e in found:
                if e.significant and factor == "canary":
                    falsified.append(f"predicted a failure leaves the canary alone ({claim.why}); observed "
                                     f"the canaries die with it: {e.text(arms)}")
                elif e.significant:
                    what = "raises" if e.more else "removes"
                    falsified.append(f"predicted {factor} has no effect ({claim.why}); observed it {what} "
                                     f"failures: {e.text(arms)}")

    one_of = getattr(mod, "RAISES_ONE_OF", ())
    if one_of:
        tested = [e for f in one_of for e in effects.get(f, [])]
        if tested and not any(e.significant for e in tested):
            if all(e.power >= POWER for e in tested):
                falsified.append(f"predicted at least one of {', '.join(one_of)} raises failures; none does: "
                                 + "; ".join(e.text(arms) for e in tested))
            else:
                untested.append(f"none of {', '.join(one_of)} raises failures significantly yet; "
                                f"{need_more(min(tested, key=lambda e: e.power))}")

    kinds = getattr(mod, "KINDS", {"*": set()})
    for arm in arms.values():
        if "+" in arm.name:
            continue
        allowed = kinds.get(arm.name, kinds.get("*", set()))
        foreign = {k: v for k, v in arm.kinds.items() if k not in allowed}
        # robust to stray noise: a majority of the arm's failures must be foreign
        if foreign and sum(foreign.values()) * 2 > arm.failures and arm.failures >= 2:
            falsified.append(f"{hyp}'s failures take the forms {sorted(allowed) or 'none'}; arm {arm.name} "
                             f"failed as {', '.join(f'{k} {v}' for k, v in sorted(foreign.items()))} "
                             f"({arm.text()})")
    if n_base == 0:
        untested.append("no baseline probes")
    if falsified:
        return Verdict("falsified", falsified)
    if untested:
        return Verdict("inconclusive", untested + support)
    return Verdict("consistent", support or ["no claim contradicted"])


@dataclass
class Falsification:
    target: str
    arms: dict[str, Arm]
    verdicts: dict[str, Verdict]
    repeats: int
    alpha: float = ALPHA
    mde: float = MDE

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "target": self.target, "alpha": self.alpha,
                "minimum_detectable_effect": self.mde, "repeats": self.repeats,
                "arms": {k: asdict(v) for k, v in self.arms.items()},
                "hypotheses": {h: asdict(v) for h, v in self.verdicts.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def table(self) -> str:
        """The falsification table as text (Markdown)."""
        lines = [f"Falsification table for {self.target} (alpha {self.alpha}, MDE {self.mde:.0%}, "
                 f"{self.repeats} repeats per arm)", "",
                 "| hypothesis | verdict | first evidence |", "|---|---|---|"]
        for h, v in self.verdicts.items():
            lines.append(f"| {h} | {v.verdict} | {v.evidence[0] if v.evidence else ''} |")
        lines += ["", "| arm | failed | kinds |", "|---|---|---|"]
        for a in self.arms.values():
            lines.append(f"| {a.name} | {a.failures}/{a.n} | "
                         + ", ".join(f"{k} {v}" for k, v in sorted(a.kinds.items())) + " |")
        return "\n".join(lines)


def decide(target: str, records: list[dict], hypotheses: tuple[str, ...] = HYPOTHESES) -> Falsification:
    arms = tally(records)
    repeats = max((a.n for a in arms.values()), default=0)
    return Falsification(target, arms, {h: judge(h, arms) for h in hypotheses}, repeats)


def plan(treat_arms: dict[str, float] | None = None) -> list[tuple[str, ProbeSpec]]:
    """Stage 1: the base and every stress arm. Stage 2 (treatments) needs stage 1's rates:
    pass them as treat_arms {arm: failure rate} to get the treatment arms."""
    if treat_arms is None:
        return [("base", BASE)] + [(name, p) for name, p in STRESS.items()]
    out = []
    for arm, rate in treat_arms.items():
        if arm in STRESS and rate >= FAILING:
            for t in TREATMENTS:
                if t == "protocol" and arm == "think_time":
                    continue  # pooled reuse is an HTTP/1.1 probe (HTTP/2 multiplexes instead)
                out.append((f"{arm}+{t}", treated(arm, STRESS[arm], t)))
    if out:
        out.append((CANARY_BASE, treated("base", BASE, "canary")))
    return out
