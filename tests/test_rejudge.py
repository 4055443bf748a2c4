"""A finished self-check judged again from its records: the verdicts and boundaries come from
this tree's judge, the probes are the recorded ones."""

import json

from harness.selfcheck import rejudge
from tests.test_measured_boundary import BUDGET, _probe


def test_rejudge_recomputes_boundaries_from_the_records(tmp_path, capsys):
    records = [_probe(lv, 1.12) for lv in (16, 32, 64, 96, 100, 104, 108, 112, 128, 256) for _ in range(2)]
    row = {"index": 0, "name": "w", "truth": "h1", "family": "h1-stream", "draw": {"time_scale": 1.0},
           "true_boundaries": [{"factor": "duration", "value": BUDGET, "unit": "s", "exact": True}],
           "verdicts": {"h1": "consistent"}, "found_boundaries": [
               {"factor": "duration", "unit": "s", "lo": 104.0, "hi": 108.0, "found": True}],
           "seconds": 1.0, "probes": len(records)}
    (tmp_path / "worlds" / "000").mkdir(parents=True)
    (tmp_path / "worlds" / "000" / "row.json").write_text(json.dumps(row))
    (tmp_path / "worlds" / "000" / "records.json").write_text(json.dumps(records))
    (tmp_path / "selfcheck.json").write_text(json.dumps({"worlds": 1, "seed": 0, "engine_commit": "abc",
                                                          "parallel": 1, "wall_seconds": 1.0, "rows": [row]}))
    out = tmp_path / "again"
    rejudge.main([str(tmp_path), "--out", str(out)])
    report = json.loads((out / "selfcheck.json").read_text())
    (new,) = report["rows"]
    dur = next(b for b in new["found_boundaries"] if b["factor"] == "duration")
    assert dur["lo"] <= BUDGET <= dur["hi"]  # the original row said 104-108
    assert "judging the probes of abc" in report["engine_commit"]
    assert report["boundary_errors"]["duration"]["inside"] == 1


def test_rejudge_refuses_a_folder_that_is_not_a_selfcheck(tmp_path, capsys):
    assert rejudge.main([str(tmp_path)]) == 2
    assert "DIR: got" in capsys.readouterr().err
