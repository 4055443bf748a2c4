"""Elapsed-time boundaries (duration, size x duration) come from what the streams did, not
what they were asked: on a loaded machine a stream asked for L runs longer than L."""

from harness.experiment.analysis import boundaries, history

BUDGET = 120.0


def _probe(level: float, stretch: float, t_headers: float = 0.3, factor: str = "duration") -> dict:
    """A stream asked for `level` s that runs `level * stretch` s, through a wall-clock budget."""
    ran = t_headers + level * stretch
    failed = ran > BUDGET
    return {"outcome": "fin_mid_stream" if failed else "completed", "t_headers": t_headers,
            "t_total": min(ran, BUDGET + 0.05), "t_failure": BUDGET + 0.05 if failed else None,
            "probe": {"role": "ladder", "factor": factor, "level": level, "treatment": None, "unit_s": 1.0,
                      "duration": level, "longest_idle": 0.0, "t_wall_start": 0.0, "t_wall_end": 1.0}}


def _duration(records: list[dict]) -> dict:
    return next(b for b in boundaries(history(records)) if b["factor"] == "duration")


def test_late_streams_put_the_asked_boundary_under_the_budget_and_the_measured_one_around_it():
    levels = [16, 32, 64, 96, 100, 104, 108, 112, 128, 256]
    b = _duration([_probe(lv, 1.12) for lv in levels for _ in range(2)])
    assert b["found"] and b["measured"]
    assert b["asked"][1] < BUDGET  # what the ladder alone would say: 104-108, under 120
    assert b["lo"] <= BUDGET <= b["hi"] and b["hi"] - b["lo"] < 0.1 * BUDGET, b


def test_on_time_streams_measure_what_they_were_asked():
    b = _duration([_probe(lv, 1.0) for lv in (32, 64, 112, 118, 122, 128, 256) for _ in range(2)])
    assert b["lo"] <= BUDGET <= b["hi"] and b["asked"] == [118, 122]


def test_failures_that_are_not_an_elapsed_budget_keep_the_asked_interval():
    """Streams that fail early, before streams at lower levels completed (a stall, not a
    clock): the measured sides cross and the ladder's own interval stands."""
    recs = [_probe(lv, 1.0) for lv in (16, 32, 64) for _ in range(2)]
    for lv in (128, 256):
        for _ in range(2):
            r = _probe(lv, 1.0)
            r.update(outcome="timeout", t_failure=20.0, t_total=20.0)
            recs.append(r)
    b = _duration(recs)
    assert "measured" not in b and (b["lo"], b["hi"]) == (64, 128)
