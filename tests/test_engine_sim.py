"""The search and the judge against simulated mechanisms (harness/experiment/simulated.py):
limits drawn over wide field ranges, never placed at the engine's levels. The true
hypothesis must come out consistent, every other one falsified, and the boundary found must
bracket the drawn limit. (Real worlds: harness/selfcheck and tests/test_confusion.py.)"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import engine
from harness.experiment.factors import LAB
from harness.experiment.search import Search, Settings
from harness.experiment.simulated import Mechanism, SimTarget

FACTOR = {"wallclock": "duration", "idle": "idle_gap", "keepalive_idle": "think_time", "nat": "think_time",
          "stall": "read_pace", "prefill": "size", "bytetime": "size_x_duration"}


@st.composite
def mechanisms(draw):
    name = draw(st.sampled_from(["control", "wallclock", "idle", "bytetime", "keepalive_idle", "nat", "stall",
                                 "prefill"]))
    if name == "control":
        return Mechanism("control")
    if name == "prefill":
        return Mechanism(name, draw(st.floats(0.5e6, 30e6)))
    if name == "bytetime":
        return Mechanism(name, draw(st.floats(3e7, 3e10)))
    # a stall limit inside the read-pace ladder (LAB.pace_max: a read-pace probe lasts ~3x
    # its level); the other limits anywhere in the time ladders
    limit = draw(st.floats(30, 0.9 * LAB.pace_max if name == "stall" else 900))
    if name == "nat":
        return Mechanism(name, limit, draw(st.sampled_from([0.0, limit / 4, limit * 3])))
    return Mechanism(name, limit)


def run(m: Mechanism, h2c: bool = True):
    records = Search(SimTarget(m, h2c=h2c), Settings(stagger=0.0, heartbeat_period=1e6)).run()
    return engine.decide(f"sim {m.name}", records)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mechanisms().filter(lambda m: m.name != "stall"))  # an HTTP/2 stall needs HTTP/2
def test_an_http11_only_target_never_fails_the_protocol_treatment(m):
    """A target that closes on the h2 preface: its h2c probes fail before headers, which says
    what it speaks, not how it fails. No protocol treatment runs, no claim is judged on h2c
    probes, and the verdicts are those of the same mechanism on a target that speaks both."""
    result = run(m, h2c=False)
    assert result.h2c_supported is False
    for h, v in result.verdicts.items():
        assert not any("protocol" in e and "observed" in e for e in v.evidence), (m, h, v.evidence)
    both = run(m)
    truth = m.hypothesis
    if truth != "control":
        assert result.verdicts[truth].verdict == both.verdicts[truth].verdict == "consistent", (
            m, result.verdicts[truth].evidence[:3])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mechanisms())
def test_true_hypothesis_consistent_others_falsified(m):
    result = run(m)
    verdicts = {h: v.verdict for h, v in result.verdicts.items()}
    truth = m.hypothesis
    for h, v in verdicts.items():
        want = "consistent" if h == truth else "falsified"
        if truth == "control" and h == "h3":
            want = "inconclusive"  # no failure, no outage seen: H3 is bounded by the run's exposure
        assert v == want, (m, h, result.verdicts[h].evidence[:3])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mechanisms().filter(lambda m: m.name not in ("control", "bytetime")))
def test_boundary_brackets_the_limit(m):
    result = run(m)
    b = next(b for b in result.boundaries if b["factor"] == FACTOR[m.name])
    assert b["found"], (m, b)
    assert b["lo"] <= m.limit * 1.01 and m.limit <= b["hi"] * 1.01, (m, b)
    assert b["hi"] / b["lo"] < 1.2  # bisection narrowed the ladder's steps (x2 in time, up to x8 in size)


@pytest.mark.parametrize("seconds_at_32mb", [4.5, 6.0, 7.5])
def test_a_budget_below_the_ladders_floor_is_followed_down(seconds_at_32mb):
    """A bytes x seconds budget that the size ladder's short stream passes at 32 MB but the
    size x duration ladder's floor (8 s) crosses: that ladder fails everywhere, so the search
    runs it again at a smaller size, where the budget is inside the ladder (CI saw this world
    come out inconclusive when the floor was the end of the search)."""
    limit = 32e6 * seconds_at_32mb
    result = run(Mechanism("bytetime", limit))
    assert result.verdicts["h1"].verdict == "consistent", result.verdicts["h1"].evidence[:3]
    b = next(b for b in result.boundaries if b["factor"] == "size_x_duration")
    assert b["found"] and b["lo"] is not None, b
    size = limit / b["hi"]  # the size the ladder ended at: the budget sits inside its interval
    assert size < 32e6 and b["lo"] * size <= limit * 1.01 <= b["hi"] * size * 1.02, (b, size)


@pytest.mark.parametrize("name,limit", [("wallclock", 6.0), ("idle", 2.5), ("nat", 3.0)])
def test_a_time_limit_below_the_floor_is_followed_down(name, limit):
    """Limits under the time ladders' 8 s floor (but over the 4 s base stream): the ladder
    steps down an octave at a time until a level passes, and bisection brackets the limit."""
    m = Mechanism(name, limit)
    result = run(m)
    b = next(b for b in result.boundaries if b["factor"] == FACTOR[name])
    assert b["found"] and b["lo"] is not None, b
    assert b["lo"] <= limit * 1.01 <= b["hi"] * 1.02, b
    assert result.verdicts[m.hypothesis].verdict == "consistent", result.verdicts[m.hypothesis].evidence[:3]


def test_control_has_no_boundary_and_names_the_range():
    result = run(Mechanism("control"))
    assert all(not b["found"] for b in result.boundaries)
    assert "not probed" in result.verdicts["h2"].evidence[0]  # "limits beyond 2048 s not probed"


@pytest.mark.parametrize("kind", ["http_error"])
def test_http_answers_are_not_failures(kind):
    from harness.experiment.analysis import Level

    lv = Level(1.0)
    lv.add({"outcome": kind, "probe": {}})
    assert (lv.n, lv.failures, lv.answered) == (0, 0, 1)


def test_binomial_tails_are_exact_and_survive_thousands_of_trials():
    from math import comb

    from harness.experiment.judge import binom_ge, binom_le

    assert binom_le(2, 10, 0.5) == pytest.approx(sum(comb(10, i) for i in range(3)) / 2**10)
    assert binom_ge(8, 10, 0.2) == pytest.approx(sum(comb(10, i) * 0.2**i * 0.8 ** (10 - i) for i in range(8, 11)))
    assert 0.0 <= binom_ge(40, 3000, 0.02) <= 1.0 and binom_le(0, 3000, 0.5) == 0.0


class _OutageTarget:
    """Streams that sleep their (scaled) length; between OUT_AT and OUT_AT + OUT_FOR real
    seconds after the first probe, the path is down: anything alive then fails (heartbeats
    too). The outage comes after the plan's natural end, so only a soak can meet it."""

    OUT_AT, OUT_FOR = 6.0, 1.5  # the plan alone ends after ~1 s here

    def __init__(self, min_run: float):
        import threading
        import time

        from harness.experiment.factors import Ranges

        self.name, self.unit_s, self.min_keepalive, self.upload_rate = "outages", 0.02, 1.0, None
        self.ranges = Ranges(short=2.0, t_min=2.0, t_max=16.0, size_max=1_000_000, watchdog=10.0)
        self.min_run, self._t0, self._lock, self._time = min_run, None, threading.Lock(), time

    def affordable(self, spec):
        return True

    def probe(self, spec):
        from harness.experiment.simulated import _rec

        t = self._time
        with self._lock:
            self._t0 = self._t0 or t.monotonic()
        start = t.monotonic() - self._t0
        life = (spec.duration + spec.longest_idle + (spec.think_time or 0.0)) * self.unit_s
        t.sleep(life)
        if start <= self.OUT_AT + self.OUT_FOR and start + life >= self.OUT_AT:
            return _rec(spec, "timeout", life / self.unit_s, life / self.unit_s, True, None)
        return _rec(spec, "completed", None, life / self.unit_s, True, None)


def test_a_run_that_met_no_outage_soaks_until_it_does():
    """Without the soak the run ends before the outage and H3 can only be bounded; with a
    minimum run the soak's streams and the heartbeats meet it together."""
    settings = dict(stagger=0.0, heartbeat_period=5.0)
    short = engine.decide("no soak", Search(_OutageTarget(0.0), Settings(**settings)).run())
    assert short.verdicts["h3"].verdict == "inconclusive", short.verdicts["h3"].evidence[:2]
    soaked = engine.decide("soak", Search(_OutageTarget(500.0), Settings(**settings)).run())
    roles = {r["probe"]["role"] for r in soaked.history.records}
    assert "soak" in roles
    assert soaked.verdicts["h3"].verdict == "consistent", soaked.verdicts["h3"].evidence[:3]


def test_http_answers_are_reported_beside_the_boundary_and_never_support_h5():
    """A target that answers 413 past 4 MB (with headers): no size limit among the failures,
    H5 not consistent, and the table says where the answers start and what they were."""
    from harness.experiment.simulated import _rec

    class Answers413(SimTarget):
        def probe(self, spec):
            if spec.size >= 4_000_000:
                rec = _rec(spec, "http_error", None, 0.01, True, None)
                rec["status"] = 413
                return rec
            return super().probe(spec)

    result = engine.decide("413s", Search(Answers413(Mechanism("control")), Settings(stagger=0.0,
                                                                                      heartbeat_period=1e6)).run())
    size = next(b for b in result.boundaries if b["factor"] == "size")
    assert not size["found"] and size["answered"]["from"] == 4_000_000, size
    assert size["answered"]["kinds"] == {"http_error 413": size["answered"]["n"]}
    assert result.verdicts["h5"].verdict != "consistent"
    assert "answered (not failures) from 4 MB: http_error 413" in result.table(), result.table()


def test_a_stall_limit_past_the_read_pace_ladder_is_reported_as_not_probed():
    """A limit above the ladder's top is not found, and the verdict says how far it looked."""
    result = run(Mechanism("stall", 2 * LAB.pace_max))
    h4 = result.verdicts["h4"]
    assert h4.verdict != "consistent"
    assert any("not probed" in e or "not seen up to" in e for e in h4.evidence + h4.untested), h4.evidence[:3]
