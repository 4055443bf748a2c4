"""Exposure to outages is time during which a probe was alive (not connection-seconds), and an
outage the heartbeats saw while no probe was alive asks for more exposure (Search.soak)."""

from harness.experiment.analysis import history
from harness.experiment.search import soak_need


def _rec(role: str, start: float, end: float, outcome: str = "completed", unit_s: float = 0.5) -> dict:
    return {"outcome": outcome, "t_total": end - start, "t_failure": (end - start) if outcome != "completed" else None,
            "probe": {"role": role, "factor": "duration" if role != "heartbeat" else None, "level": 8.0,
                      "t_wall_start": start, "t_wall_end": end, "unit_s": unit_s}}


def _heartbeats(until: float, down: tuple[float, float] | None = None, every: float = 1.0) -> list[dict]:
    out, t = [], 0.0
    while t < until:
        failed = down is not None and down[0] <= t <= down[1]
        out.append(_rec("heartbeat", t, t + 0.1, "timeout" if failed else "completed"))
        t += every
    return out


def test_concurrent_probes_cover_the_same_seconds_once():
    recs = [_rec("ladder", 0, 10), _rec("ladder", 0, 10), _rec("ladder", 5, 12), _rec("ladder", 20, 21)]
    real, target = history(recs).covered()
    assert real == 13.0 and target == 26.0  # 0-12 and 20-21; unit_s 0.5


def test_an_outage_no_probe_met_is_unwatched_and_asks_for_exposure():
    probes = [_rec("ladder", 0, 10)]
    h = history(probes + _heartbeats(30, down=(20, 24)))
    assert len(h.unwatched_outages()) == 1
    first: list[float] = []
    assert soak_need(h, elapsed=30, min_run=0.0, first_seen=first)  # 10 s covered < 3 x 30 s
    assert first == [30]
    # once probes have been alive for 3 T / k it stops asking
    more = history(probes + [_rec("soak", 30, 120)] + _heartbeats(120, down=(20, 24)))
    assert not soak_need(more, elapsed=120, min_run=0.0, first_seen=first)


def test_an_outage_a_probe_lived_through_is_not_unwatched():
    h = history([_rec("ladder", 0, 30)] + _heartbeats(30, down=(20, 24)))
    assert h.unwatched_outages() == []
    assert not soak_need(h, elapsed=30, min_run=0.0, first_seen=[])


def test_heartbeats_that_never_failed_ask_for_nothing_past_the_minimum_run():
    h = history([_rec("ladder", 0, 10)] + _heartbeats(30))
    assert not soak_need(h, elapsed=30, min_run=0.0, first_seen=[])
    assert soak_need(h, elapsed=30, min_run=240.0, first_seen=[])


def test_two_outages_far_apart_are_two_episodes():
    hb = [r for r in _heartbeats(60, down=(20, 24))] + [_rec("heartbeat", 50, 50.1, "timeout")]
    assert len(history([_rec("ladder", 0, 10)] + hb).unwatched_outages()) == 2


def test_a_probe_in_a_planned_silence_does_not_watch_an_outage():
    """A slow reader (or a think time, or a mid-stream silence) has nothing in flight and
    outlives an outage: it neither watches it nor counts as exposure."""
    slow = _rec("ladder", 0, 30)
    slow["probe"]["factor"] = "read_pace"
    h = history([_rec("ladder", 0, 10), slow] + _heartbeats(30, down=(20, 24)))
    assert len(h.unwatched_outages()) == 1
    assert h.covered()[0] == 10.0


def _treatment_batch(treated_fail: bool) -> list[dict]:
    """A read-pace ladder that fails at 0.5 (stage 1), then a treatment batch: the untreated
    controls start in an outage (connect errors, the heartbeats fail with them) and the h2c-
    less arm starts after it."""
    recs = []
    for lv, outcome in ((0.25, "completed"), (0.5, "timeout")):
        for _ in range(4):
            r = _rec("ladder", 100, 104, outcome)
            r["probe"].update(factor="read_pace", level=lv)
            recs.append(r)
    for i in range(8):
        c = _rec("treatment", 20 + i * 0.1, 20.5 + i * 0.1, "connect_error")
        c["probe"].update(factor="read_pace", level=0.5, treatment="control")
        t = _rec("treatment", 30 + i * 0.1, 34, "timeout" if treated_fail else "completed")
        t["probe"].update(factor="read_pace", level=0.5, treatment="protocol")
        recs += [c, t]
    return recs


def test_a_treatment_is_not_credited_with_an_outage_that_met_only_its_controls():
    from harness.experiment.judge import Judge

    h = history(_treatment_batch(treated_fail=False) + _heartbeats(120, down=(19, 23)))
    tests, _, untested = Judge(h).treatment("protocol", "none", "every protocol loses the link alike")
    assert not any(t.p < 0.05 for t in tests), [t.text for t in tests]
    assert any("beside a path outage" in u for u in untested), untested
    u, out = h.arm("read_pace", "control", [0.5])
    assert (u.n, out) == (0, 8)  # every control ran beside the outage the heartbeats saw
    # without the heartbeats' outage the same records do show an effect: the test can fail
    h_blind = history(_treatment_batch(treated_fail=False) + _heartbeats(120))
    tests, _, _ = Judge(h_blind).treatment("protocol", "none", "every protocol loses the link alike")
    assert any(t.p < 0.05 for t in tests)


def test_a_treatment_outside_any_outage_is_still_compared():
    from harness.experiment.judge import Judge

    h = history(_treatment_batch(treated_fail=True) + _heartbeats(120, down=(60, 64)))
    tests, _, _ = Judge(h).treatment("protocol", "removes", "h2c has no window")
    u, out = h.arm("read_pace", "control", [0.5])
    assert out == 0 and u.n == 8 and u.failures == 8
    assert len(tests) == 1 and tests[0].p < 0.05  # the treated arm still fails: "removes" is contradicted


def test_a_heartbeat_held_past_its_watchdog_saw_the_path_down():
    """An outage shorter than a heartbeat's connect-and-headers deadline only delays it: the
    heartbeats it held answer late, together, when the path comes back. Held past its own
    stream watchdog (idle_timeout, target units) it counts as the path down; a merely slow
    one does not."""
    from harness.experiment.analysis import path_down

    def hb(start: float, t_headers: float) -> dict:
        r = _rec("heartbeat", start, start + t_headers + 0.01)
        r["t_headers"] = t_headers
        r["probe"].update(idle_timeout=2.5, unit_s=1.0)
        return r

    held = [hb(298.1, 4.1), hb(299.3, 2.6)]
    assert all(path_down(h) for h in held)
    assert not path_down(hb(300.6, 1.06))  # under its 2.5 s watchdog: slow, not down
    assert not path_down({**hb(10.0, 4.1), "probe": {**hb(10.0, 4.1)["probe"], "unit_s": 2.0}})  # 5 s real
    dead = [_rec("ladder", 290, 302, "timeout") for _ in range(3)]
    steady = [hb(t, 0.03) for t in range(280, 320, 1) if not 297 <= t <= 301]
    assert history(dead + steady + held).coincidences()[:2] == (3, 3)
    assert history(dead + steady).coincidences()[:2] == (3, 0)


def test_failures_no_heartbeat_ran_beside_are_not_counted_against_the_path_going_down():
    """The first stage runs before the heartbeats start: its failures say nothing about
    whether the path was down, and must not read as "the path stayed up"."""
    early = [_rec("ladder", t, t + 2, "timeout") for t in (1.0, 3.0, 5.0, 7.0)]
    late = [_rec("ladder", 60, 65, "timeout") for _ in range(3)]
    hb = [h for h in _heartbeats(100, down=(62, 64)) if h["probe"]["t_wall_start"] >= 40]
    assert history(early + late + hb).coincidences()[:2] == (3, 3)
    from harness.experiment.judge import Judge

    t, support, _ = Judge(history(early + late + hb)).heartbeat("together", "outages")
    assert support and t.p > 0.05
    # with only the early failures, nothing was watched: untested, not "the path stayed up"
    t, support, untested = Judge(history(early + hb)).heartbeat("together", "outages")
    assert t is None and "none ran beside the 4 failed probes" in untested
