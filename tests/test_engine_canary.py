"""The engine's canary factor, from synthetic records (the confusion matrix covers real ones)."""

from harness import engine


def _recs(arm, n, failed, canary_dead=None, outcome="timeout"):
    out = []
    for i in range(n):
        probe = {"arm": arm}
        if canary_dead is not None:
            probe["canary"] = {"alive": i >= canary_dead}
        out.append({"outcome": outcome if i < failed else "completed", "probe": probe})
    return out


def _stage2(idle_gap_canaries_dead: int):
    """base fine, idle_gap failing (timeouts), keepalive removing it; canaries beside the
    failing arm dead `idle_gap_canaries_dead` of 6 times, beside the base never."""
    recs = _recs("base", 6, 0) + _recs("idle_gap", 6, 6) + _recs("idle_gap+keepalive", 6, 0)
    recs += _recs("idle_gap+protocol", 6, 6) + _recs("base+canary", 6, 0, canary_dead=0)
    recs += _recs("idle_gap+canary", 6, 6, canary_dead=idle_gap_canaries_dead)
    return engine.tally(recs)


def test_canaries_dying_with_the_failures_support_together_and_falsify_none():
    arms = _stage2(6)
    effects = engine.observed_effects(arms)["canary"]
    assert [(e.arm, e.against, e.significant) for e in effects] == [("idle_gap+canary", "base+canary", True)]
    h2 = engine.judge("h2", arms)  # predicts together
    assert any("canaries die with the failing probes as predicted" in x for x in h2.evidence), h2
    h4 = engine.judge("h4", arms)  # predicts none
    assert h4.verdict == "falsified"
    assert any("observed the canaries die with it: canaries dead: idle_gap+canary 6/6" in x for x in h4.evidence)


def test_canaries_that_live_falsify_together():
    arms = _stage2(0)
    h2 = engine.judge("h2", arms)
    assert h2.verdict == "falsified"
    assert any("predicted a failure takes the canary down too" in x for x in h2.evidence), h2
    # H1 and H3 make no claim about the canary ("any"): no canary evidence either way
    for hyp in ("h1", "h3"):
        assert not any("canar" in x for x in engine.judge(hyp, arms).evidence), hyp


def test_the_canary_control_arm_is_planned_with_the_treatments():
    stage2 = dict(engine.plan({"base": 0.0, "idle_gap": 1.0, "size": 0.0}))
    assert set(stage2) == {"idle_gap+keepalive", "idle_gap+protocol", "idle_gap+canary", "base+canary"}
    assert stage2["base+canary"].canary and stage2["idle_gap+canary"].canary
    assert stage2["idle_gap+canary"].longest_idle == engine.STRESS["idle_gap"].longest_idle
    assert engine.plan({"base": 0.0, "size": 0.0}) == []  # nothing failed: no treatments, no control
