"""Each hypothesis's claims against the observed history: consistent, falsified, inconclusive.

A claim is a hypothesis module's prediction for one factor (PREDICTIONS: raises / none /
removes / together / any), the outcome kinds its failures can take (KINDS, per factor, "*"
for the rest) and RAISES_ONE_OF (at least one of these factors must show a boundary). Every
claim that can be contradicted gets a test with a p-value:

    raises    the ladder found no boundary: at its top levels the failure count is improbably
              low for a mechanism that fails at least half of the probes past its limit
              (binomial, p = 0.5), so "no limit up to <top>" -- the verdict says so
    none      the factor raises failures (one-sided Fisher: failing suffix vs the levels below)
              or, for a treatment, removes them (untreated vs treated at the same levels)
    removes   the treated probes at the failing levels still fail (binomial, p = 0.2)
    together  canaries beside failing probes live (binomial, p = 0.5); for heartbeats: failed
              probes during whose life no heartbeat saw the path down
              (failed, or answered only after its own watchdog)
    kinds     most failures of a ladder take forms the hypothesis cannot produce (binomial,
              a stray rate of 0.2)

A hypothesis is **falsified** when Holm's step-down rejects at least one of its tests at
alpha (family-wise error controlled within the hypothesis). Otherwise it is **inconclusive**
when one of its positive claims (raises, removes, together) was not seen -- untested, or seen
too weakly -- and **consistent** when all were seen. Every claim that could not be tested is
listed with what would settle it, and every "raises" verdict names the range it covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.stats import fisher_one_sided, power_one_sided
from harness.worlds import HYPOTHESES

from .analysis import History, Ladder, Level, pooled
from .factors import FACTORS, UNITS

ALPHA = 0.05
FAIL_PAST_LIMIT = 0.5  # a limit fails at least this share of the probes past it
STRAY = 0.2  # failures a treatment or a foreign kind may show without contradicting a claim
HEARTBEAT_STRAY = 0.02


def _pmf(i: int, n: int, p: float) -> float:
    # in log space: math.comb(n, i) overflows a float for the thousands of heartbeats of a run
    if p <= 0.0 or p >= 1.0:
        return float(i == (0 if p <= 0.0 else n))
    return math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                    + i * math.log(p) + (n - i) * math.log1p(-p))


def binom_le(k: int, n: int, p: float) -> float:
    return min(1.0, sum(_pmf(i, n, p) for i in range(0, min(k, n) + 1)))


def binom_ge(k: int, n: int, p: float) -> float:
    return min(1.0, sum(_pmf(i, n, p) for i in range(max(0, k), n + 1)))


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "bytes":
        return f"{v / 1e6:g} MB" if v >= 1e6 else f"{v / 1e3:g} KB"
    return f"{v:.3g} s"


@dataclass
class Test:
    p: float
    text: str  # what contradicts the claim, when rejected


@dataclass
class Verdict:
    verdict: str  # consistent | falsified | inconclusive
    evidence: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)


def top(lad: Ladder, k: int = 3) -> Level:
    return pooled(lad.sorted()[-k:])


def raise_test(lad: Ladder) -> tuple[float, str]:
    """One-sided Fisher: do the levels at or above the boundary fail more than those below?"""
    lower, upper = lad.split()
    lo, up = pooled(lower), pooled(upper)
    if not lower or not upper:
        return 1.0, ""
    p = fisher_one_sided(up.failures, up.n, lo.failures, lo.n)
    unit = UNITS[lad.factor]
    return p, (f"{lad.factor} {fmt(upper[0].value, unit)}-{fmt(upper[-1].value, unit)}: {up.text()} vs "
               f"{fmt(lower[0].value, unit)}-{fmt(lower[-1].value, unit)}: {lo.text()} (one-sided Fisher p={p:.2g})")


def boundary_text(lad: Ladder) -> str:
    unit, b = UNITS[lad.factor], lad.boundary()
    if b is None:
        return f"no failing limit up to {fmt(lad.covered[1], unit)}"
    if b[0] is None:
        return f"fails from the lowest level probed, {fmt(b[1], unit)} (the limit is below it)"
    return f"fails past {fmt(b[0], unit)}-{fmt(b[1], unit)}"


class Judge:
    def __init__(self, h: History):
        self.h = h

    def _ladder(self, factor: str) -> Ladder | None:
        lad = self.h.ladder(factor)
        return lad if lad is not None and lad.sorted() else None

    # -- tests of single claims: (contradiction test, support text or None) ---------------------

    def raises(self, factor: str, why: str) -> tuple[Test | None, str | None, str | None]:
        lad = self._ladder(factor)
        if lad is None:
            return None, None, f"{factor}: not probed (predicted raises: {why})"
        p, text = raise_test(lad)
        b = lad.boundary()
        if b is not None and b[0] is not None and p < ALPHA:
            return Test(1.0, ""), f"{factor} raises failures as predicted, {boundary_text(lad)}: {text}", None
        if b is not None and b[0] is None:
            return None, None, (f"{factor}: every level failed, from {fmt(b[1], UNITS[factor])}; a lower "
                                "floor would tell whether it raises failures")
        t = top(lad)
        p_top = binom_le(t.failures, t.n, FAIL_PAST_LIMIT)
        covered = fmt(lad.covered[1], UNITS[factor])
        return (Test(p_top, f"predicted {factor} raises failures ({why}); observed no limit up to {covered}: "
                             f"its top levels {t.text()} (binomial p={p_top:.2g} for a limit failing >= half); "
                             f"limits beyond {covered} not probed"), None,
                f"{factor}: predicted raises, not seen up to {covered} ({t.text()} at the top): more repeats "
                "at the top levels or a longer ladder would settle it")

    def none(self, factor: str, why: str) -> tuple[Test | None, str | None]:
        lad = self._ladder(factor)
        if lad is None:
            return None, f"{factor}: not probed (predicted none: {why})"
        p, text = raise_test(lad)
        if lad.factor == "size_x_duration":
            p, text = self.interaction()
        return Test(p, f"predicted {factor} has no effect ({why}); observed it raises failures, "
                       f"{boundary_text(lad)}: {text}"), None

    def interaction(self) -> tuple[float, str]:
        """At the durations where the big request fails, does the small one fail less?"""
        big, small = self._ladder("size_x_duration"), self._ladder("duration")
        if big is None or small is None or not big.failing_levels():
            return 1.0, ""
        levels = big.failing_levels()
        b = pooled([lv for v, lv in big.levels.items() if v in levels and lv.n])
        s = pooled([lv for v, lv in small.levels.items() if v in levels and lv.n])
        if not s.n:
            return 1.0, ""
        p = fisher_one_sided(b.failures, b.n, s.failures, s.n)
        return p, (f"at {fmt(levels[0], 's')}-{fmt(levels[-1], 's')} the big request {b.text()}, the small one "
                   f"{s.text()} (one-sided Fisher p={p:.2g})")

    def treatment(self, treatment: str, effect: str, why: str, on: tuple[str, ...] = ()) -> tuple[
            list[Test], list[str], list[str]]:
        tests, support, untested = [], [], []
        for factor in on or FACTORS:
            lad, treated = self._ladder(factor), self.h.ladder(factor, treatment)
            if lad is None or not lad.failing_levels():
                continue
            if treated is None or not treated.sorted():
                if effect != "any":
                    untested.append(f"{treatment} on {factor}: not run at its failing levels (predicted {effect})")
                continue
            levels = [v for v in treated.levels if treated.levels[v].n]
            if treatment == "canary":
                tests_, s_ = self._canary(factor, treated, effect, why)
                tests += tests_
                support += s_
                continue
            # the untreated probes run beside the treated ones (same batch, same load) when
            # there are any; stage 1's otherwise
            control = self.h.ladder(factor, "control")
            untreated = "control" if control is not None and all(
                control.levels.get(v) and control.levels[v].n for v in levels) else None
            # both arms without the probes that ran beside a path outage (heartbeats failing)
            u, u_out = self.h.arm(factor, untreated, levels)
            t, t_out = self.h.arm(factor, treatment, levels)
            if not u.n or not t.n:
                if effect != "any":
                    untested.append(f"{treatment} on {factor}: every probe of an arm ran beside a path outage "
                                    f"({u_out + t_out} left out; predicted {effect})")
                continue
            p_removes = fisher_one_sided(u.failures, u.n, t.failures, t.n)
            left_out = f"; {u_out + t_out} probes beside a path outage left out" if u_out + t_out else ""
            what = (f"{factor} at {fmt(min(levels), UNITS[factor])}+: untreated {u.text()}, with {treatment} "
                    f"{t.text()}{left_out}")
            if effect == "removes":
                p = binom_ge(t.failures, t.n, STRAY)
                tests.append(Test(p, f"predicted {treatment} removes failures ({why}); observed it does not: {what} "
                                     f"(binomial p={p:.2g})"))
                if p_removes < ALPHA:
                    support.append(f"{treatment} removes failures as predicted: {what} (one-sided Fisher "
                                   f"p={p_removes:.2g})")
                else:
                    power = power_one_sided(t.n, u.n, 0.0, ALPHA, u.rate)
                    untested.append(f"{treatment} on {factor}: predicted removes, not significant yet ({what}; power "
                                    f"{power:.2f} at the observed untreated rate: more treated probes would settle it)")
            elif effect == "none":
                tests.append(Test(p_removes, f"predicted {treatment} has no effect ({why}); observed it removes "
                                             f"failures: {what} (one-sided Fisher p={p_removes:.2g})"))
        return tests, support, untested

    def _canary(self, factor: str, treated: Ladder, effect: str, why: str) -> tuple[list[Test], list[str]]:
        failing = set(self._ladder(factor).failing_levels())
        beside_fail = pooled([lv for v, lv in treated.levels.items() if v in failing])
        beside_ok = pooled([lv for v, lv in treated.levels.items() if v not in failing])
        if not beside_fail.canary_n:
            return [], []
        what = (f"canaries dead beside {factor}'s failing probes {beside_fail.canary_dead}/{beside_fail.canary_n}, "
                f"beside its passing ones {beside_ok.canary_dead}/{beside_ok.canary_n}")
        p_together = (fisher_one_sided(beside_fail.canary_dead, beside_fail.canary_n, beside_ok.canary_dead,
                                       beside_ok.canary_n) if beside_ok.canary_n else 1.0)
        if effect == "together":
            p = binom_le(beside_fail.canary_dead, beside_fail.canary_n, FAIL_PAST_LIMIT)
            support = [f"canaries die with the failing probes as predicted: {what}"] if p_together < ALPHA else []
            return [Test(p, f"predicted a failure takes the idle canary down too ({why}); observed the canaries "
                            f"live: {what} (binomial p={p:.2g})")], support
        if effect == "none":
            return [Test(p_together, f"predicted a failure leaves the canary alone ({why}); observed the canaries "
                                     f"die with it: {what} (one-sided Fisher p={p_together:.2g})")], []
        return [], []

    def heartbeat(self, effect: str, why: str) -> tuple[Test | None, str | None, str | None]:
        n_fail, hit, n_hb, hb_failed = self.h.coincidences()
        what = (f"{hit}/{n_fail} failed probes beside heartbeats had one see the path down during their life; heartbeats "
                f"failed or were held past their watchdog {hb_failed}/{n_hb}")
        if effect == "together":
            if not n_hb:
                return None, None, "heartbeats: none ran"
            unwatched_failures = sum(1 for r in self.h.failures if r.get("t_failure") is not None) - n_fail
            if not n_fail and unwatched_failures:
                return None, None, (f"heartbeats: none ran beside the {unwatched_failures} failed probes (predicted "
                                    "together): heartbeats through a longer run would settle it")
            if not n_fail:
                _, exposure = self.h.covered()
                unwatched = len(self.h.unwatched_outages())
                seen = (f"; the heartbeats saw the path go down {unwatched} time(s) while no probe was alive (an "
                        f"outage no stream met)" if unwatched else "")
                return None, None, (f"no probe failed ({hb_failed}/{n_hb} heartbeats saw the path down) in {exposure:.0f} s "
                                    f"during which a probe was alive: outages that kill streams, if any, are rarer "
                                    f"than about one per {exposure / 3:.0f} s here (95%){seen}; a longer run would "
                                    f"bound them further")
            p = binom_le(hit, n_fail, FAIL_PAST_LIMIT)
            support = (f"the path itself went down when probes failed, as predicted: {what}"
                       if hit * 2 >= n_fail and hb_failed >= 2 else None)
            return (Test(p, f"predicted failures come with the path going down ({why}); observed heartbeats "
                            f"through the failures: {what} (binomial p={p:.2g})"), support,
                    None if support else f"heartbeats: predicted together, not seen clearly ({what})")
        if effect == "none" and n_hb:
            p = binom_ge(hb_failed, n_hb, HEARTBEAT_STRAY) if hit else 1.0
            return Test(p, f"predicted the path stays up ({why}); observed tiny fresh requests fail with the "
                           f"probes: {what} (binomial p={p:.2g})"), None, None
        return None, None, None

    def kinds(self, hyp: str) -> list[Test]:
        hypothesis = HYPOTHESES[hyp]
        out = []
        for factor in FACTORS:
            lad = self._ladder(factor)
            if lad is None:
                continue
            # the failures that make the ladder's boundary; without one, only a ladder that
            # fails at least half the time (scattered strays are not the mechanism's failures)
            levels = lad.failing_levels() or [lv.value for lv in lad.sorted()]
            fails = pooled([lad.levels[v] for v in levels])
            if not lad.failing_levels() and fails.failures * 2 < fails.n:
                continue
            allowed = hypothesis.allowed_kinds(factor)
            foreign = {k: v for k, v in fails.kinds.items() if k not in allowed}
            f = sum(foreign.values())
            if fails.failures >= 2 and foreign:
                p = binom_ge(f, fails.failures, STRAY)
                out.append(Test(p, f"{hyp}'s failures take the forms {sorted(allowed) or 'none'}; {factor} failed as "
                                   f"{', '.join(f'{k} {v}' for k, v in sorted(foreign.items()))} ({fails.text()}; "
                                   f"binomial p={p:.2g})"))
        return out

    # -- one hypothesis ------------------------------------------------------------------------

    def verdict(self, hyp: str) -> Verdict:
        hypothesis = HYPOTHESES[hyp]
        tests: list[Test] = []
        support: list[str] = []
        untested: list[str] = []
        moot: list[str] = []  # claims that could only have falsified, and could not be tested
        for factor, claim in hypothesis.predictions.items():
            if claim.effect == "any":
                continue
            if factor in ("keepalive", "protocol", "canary"):
                if factor == "protocol" and self.h.h2c_unsupported:
                    # a claim that can only falsify ("none") and cannot be tested leaves the
                    # verdict as it is, listed; one that must be seen makes it inconclusive
                    (moot if claim.effect == "none" else untested).append(
                        f"protocol: the target does not speak h2c (predicted {claim.effect})")
                    continue
                t, s, u = self.treatment(factor, claim.effect, claim.why, claim.on)
                tests += t
                support += s
                untested += u if claim.effect != "none" else []
                if claim.effect in ("removes", "together") and not t and not u:
                    untested.append(f"{factor}: no failing ladder to test it on (predicted {claim.effect})")
                continue
            if factor == "heartbeat":
                t, s, u = self.heartbeat(claim.effect, claim.why)
            elif claim.effect == "raises":
                t, s, u = self.raises(factor, claim.why)
            else:
                t, u = self.none(factor, claim.why)
                s = None
                u = None if claim.effect == "none" else u
            if factor == "read_pace" and self.h.h2c_unsupported:
                t, s, u = None, None, None
                (moot if claim.effect == "none" else untested).append(
                    f"read_pace: the target does not speak h2c (predicted {claim.effect})")
            tests += [t] if t else []
            support += [s] if s else []
            untested += [u] if u else []
        one_of = hypothesis.raises_one_of
        if one_of:
            results = [self.raises(f, "a budget exists") for f in one_of]
            seen = [s for _, s, _ in results if s]
            if seen:
                support += seen
            else:
                ps = [t for t, _, _ in results if t is not None]
                if ps and len(ps) == len([f for f in one_of if self._ladder(f)]):
                    tops = "; ".join(f"{f}: {boundary_text(self._ladder(f))}" for f in one_of if self._ladder(f))
                    tests.append(Test(max(t.p for t in ps), f"predicted at least one of {', '.join(one_of)} raises "
                                                            f"failures; none does ({tops})"))
                untested += [u for _, _, u in results if u]
        tests += self.kinds(hyp)
        rejected = holm(tests)
        if rejected:
            return Verdict("falsified", [t.text for t in rejected] + support, untested + moot)
        if untested:
            return Verdict("inconclusive", untested + support, untested + moot)
        return Verdict("consistent", support or ["no claim contradicted"], moot)


def holm(tests: list[Test], alpha: float = ALPHA) -> list[Test]:
    """Holm's step-down: the tests rejected with family-wise error <= alpha."""
    ordered = sorted(tests, key=lambda t: t.p)
    m = len(ordered)
    out = []
    for i, t in enumerate(ordered):
        if t.p < alpha / (m - i):
            out.append(t)
        else:
            break
    return out
