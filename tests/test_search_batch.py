"""A batch bigger than the pool runs in waves: every arm must meet the same waves."""

from harness.experiment.factors import LAB, spec_for, treat
from harness.experiment.search import Search, Settings


class _Instant:
    ranges = LAB
    unit_s = 1.0
    upload_rate = None

    def affordable(self, spec):
        return True

    def probe(self, spec):
        return {"probe": {}}


def test_arms_at_one_level_are_interleaved_in_start_order():
    """A pool of one runs the batch in submission order. The untreated controls are queued
    first (they are listed first), yet the k-th probe of each arm starts before the (k+1)-th
    of any: an outage that spans the first probes hits both arms, not only the controls."""
    search = Search(_Instant(), Settings(parallel=1, stagger=0.0))
    spec = spec_for("duration", 16.0, LAB)
    jobs = (search.level_jobs("duration", 16.0, 4, "treatment", None, "control")
            + search.level_jobs("duration", 16.0, 4, "treatment", treat(spec, "protocol", 1.0), "protocol")
            + search.level_jobs("duration", 16.0, 4, "treatment", treat(spec, "keepalive", 1.0), "keepalive"))
    search.batch(jobs)
    arms = [r["probe"]["treatment"] for r in search.records]
    assert len(arms) == 12
    for k in range(4):
        assert sorted(arms[3 * k:3 * k + 3]) == ["control", "keepalive", "protocol"], arms


def test_longer_probes_still_start_first():
    search = Search(_Instant(), Settings(parallel=1, stagger=0.0))
    jobs = (search.level_jobs("duration", 8.0, 2, "ladder") + search.level_jobs("duration", 64.0, 2, "ladder"))
    search.batch(jobs)
    assert [r["probe"]["level"] for r in search.records] == [64.0, 64.0, 8.0, 8.0]


def test_a_shorter_treated_arm_starts_beside_its_controls():
    """The protocol treatment of a read-pace probe drops its window (HTTP/1.1 has none), so
    it is far shorter than its controls; a probe in between (16.2 s, the treated arm 16 s, its controls 16.5 s) must not push it
    into a later wave than the controls it is compared with."""
    search = Search(_Instant(), Settings(parallel=1, stagger=0.0))
    slow = spec_for("read_pace", 0.5, LAB)
    jobs = (search.level_jobs("read_pace", 0.5, 4, "treatment", None, "control")
            + search.level_jobs("read_pace", 0.5, 4, "treatment", treat(slow, "protocol", 1.0), "protocol")
            + search.level_jobs("duration", 16.2, 4, "treatment", None, "control"))
    assert treat(slow, "protocol", 1.0).h2_window is None
    search.batch(jobs)
    arms = [(r["probe"]["factor"], r["probe"]["treatment"]) for r in search.records]
    first = arms[:8]
    assert sorted(first) == [("read_pace", "control")] * 4 + [("read_pace", "protocol")] * 4, arms
