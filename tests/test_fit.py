"""harness/fit: the surrogate reproduces what the lab measured with Claude Code on Bun, the
search finds a planted world from that world's own tables, and the CLI runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.fit import assumptions, export, family, score, search, surrogate
from harness.worlds.model import World

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MID = {p.name: p.value(0.5) for p in family.PARAMS}
SMALL = {"<1MB": 0, "1-3MB": 30, "3-6MB": 0, ">=6MB": 0}  # a few dozen 1-3 MB sessions


def run(params: dict, mechanisms, seed: int = 1, buckets=SMALL) -> dict:
    return score.tables(surrogate.simulate(MID | params, mechanisms, seed=seed, sessions_by_bucket=buckets))


def rates(t: dict) -> dict[int, float]:
    return {r["attempt"]: r["rate"] for r in t["retry_curve"]}


# -- the surrogate against the lab's measurements (README "What it says", clients/README) ---


def test_stale_pooled_reuse_behind_a_nat_recovers_at_retry_1():
    # Bun, NAT 30 s, idle ~45 s: the reuse resets, one api_error (ECONNRESET), recovered at retry 1
    t = run({"forget_s": 30.0, "think_s": 45.0, "think_sigma": 0.2, "tools_per_turn": 0.0}, {"stale"})
    assert t["api_errors"] > 50
    assert rates(t) == {1: 1.0}
    assert t["by_code"] == {"ECONNRESET": t["api_errors"]}
    assert t["gaps"]["<1s"] == t["api_errors"]  # reset on first send: right after the prompt


def test_bun_keepalive_saves_the_pool_from_a_nat_in_both_directions():
    # NAT 30 s, idle ~100 s: the 60 s keepalive probe meets the lost mapping, a new connection: no error
    assert run({"forget_s": 30.0, "think_s": 100.0, "think_sigma": 0.1, "tools_per_turn": 0.0},
               {"stale"})["api_errors"] == 0
    # NAT 90 s, idle ~100 s: the keepalive refreshed the mapping: the same connection, no error
    assert run({"forget_s": 90.0, "think_s": 100.0, "think_sigma": 0.1, "tools_per_turn": 0.0},
               {"stale"})["api_errors"] == 0


def test_h5_like_preheader_failures_never_recover():
    # h5's numbers: first-byte budget 100 s, prefill 15 s/MB, no jitter: a 7+ MB request fails
    # every attempt, each logged with ECONNRESET, and the chain runs out at retry 10
    big = {"<1MB": 0, "1-3MB": 0, "3-6MB": 0, ">=6MB": 3}
    t = run({"budget_s": 100.0, "prefill_s_per_mb": 15.0, "rate_mbit": 200.0, "body_ratio": 1.2,
             "body_cap_mb": 15.0, "turn_kb": 400.0, "tools_per_turn": 0.0}, {"preheader"}, buckets=big)
    curve = rates(t)
    assert t["api_errors"] > 0 and set(curve) == set(range(1, 11))
    assert all(r == 0.0 for r in curve.values())
    assert t["by_code"] == {"ECONNRESET": t["api_errors"]}
    assert t["synthetic_turns"] == t["retry_curve"][-1]["triggered"]  # every chain ends in a synthetic turn
    # each failure waits the budget (plus the backoff after the first): >= 100 s apart
    assert t["gaps"]["1-5min"] == t["api_errors"]


def test_midstream_budget_writes_no_api_error_and_outages_no_econnreset():
    mid = run({"sxd_mb_s": 20.0, "answer_s": 60.0}, {"midstream"})
    assert mid["synthetic_turns"] > 0 and set(mid["by_code"]) <= {"ECONNRESET"}
    pre_header = sum(mid["by_code"].values())  # only kills that land before headers are logged
    assert pre_header < mid["synthetic_turns"] + pre_header
    out = run({"outages_per_day": 30.0, "outage_mean_s": 300.0, "flush_p": 0.0}, {"outages"})
    assert out["api_errors"] > 0 and set(out["by_code"]) == {"ENETUNREACH"}


def test_rate_jitter_makes_the_same_request_pass_on_a_retry():
    base = {"budget_s": 30.0, "prefill_s_per_mb": 5.0, "rate_mbit": 2.0, "body_ratio": 1.0, "body_cap_mb": 3.0,
            "sigma_fast": 0.5, "tools_per_turn": 0.0}
    with_jitter = rates(run(base, {"preheader", "jitter"}))
    without = rates(run(base, {"preheader"}))
    assert 0 < with_jitter[1] < 1
    assert all(r in (0.0, 1.0) for r in without.values())


def test_surrogate_bursts_match_the_analyzer_definition():
    b = score.bursts([0, 30, 90, 200, 230, 259, 400])
    assert (b["count"], b["errors_in_bursts"]) == (2, 6)  # [0, 30, 90] and [200, 230, 259]: 60 s counts
    assert score.bursts([0, 60.5])["count"] == 0


def test_assumptions_table_is_complete_and_sourced():
    rows = assumptions.TABLE
    assert {r.status for r in rows} <= {"measured", "assumed"} and all(r.source for r in rows)
    assert all((r.code is not None) == r.api_error for r in rows)
    assert assumptions.ROWS["stale_pooled_reuse"].code == "ECONNRESET"
    assert assumptions.POOL_IDLE_S == 300 and assumptions.KEEPALIVE_S == 60
    assert assumptions.check_fidelity() == []  # no contradiction with a landed fidelity matrix


def test_assumptions_are_checked_against_the_fidelity_matrix(tmp_path):
    f = tmp_path / "fidelity_expected.json"
    f.write_text(json.dumps({"claude-code-bun/nat_reuse": {"api_errors": [1], "recovered": [True]},
                             "claude-code-bun/rst_after_block": {"api_errors": [0, 1]}}))
    problems = assumptions.check_fidelity(str(f))
    assert len(problems) == 1 and problems[0].startswith("reset_mid_stream: assumed api_error=False")


def test_family_rejects_bad_parameters():
    with pytest.raises(ValueError, match="fit.budget_s"):
        family.check(MID | {"budget_s": 5.0})
    with pytest.raises(ValueError, match="fit.nonsense"):
        family.check(MID | {"nonsense": 1.0})
    with pytest.raises(ValueError, match="mechanisms"):
        family.check_mechanisms({"preheader", "wormholes"})


# -- the search finds a planted world --------------------------------------------------------

PLANTED = MID | {"budget_s": 12.0, "forget_s": 40.0, "sigma_fast": 0.3, "sigma_slow": 0.05, "think_s": 200.0,
                 "think_sigma": 1.0, "rate_mbit": 2.5, "prefill_s_per_mb": 2.0, "outages_per_day": 0.5,
                 "tools_per_turn": 1.0, "turn_kb": 100.0}


PLANTED_MECHANISMS = ("preheader", "jitter", "stale")


def test_search_finds_a_planted_worlds_budget_from_its_own_tables():
    scale = 0.5
    ref = score.tables(surrogate.simulate(PLANTED, PLANTED_MECHANISMS, seed=99, scale=scale), scale)
    r = search.search(ref, budget_s=600, seed=2, free=("budget_s", "forget_s", "sigma_fast"), fixed=PLANTED,
                      mechanisms=PLANTED_MECHANISMS, n_lhs=24, max_refine=60, confirm_seeds=2, scale=scale,
                      log=lambda s: None)
    best = r.best[0]
    truth = search.evaluate(PLANTED, ref, PLANTED_MECHANISMS, seeds=best.seeds, scale=scale)
    # as close to the planted world's tables as the planted world itself is on other seeds
    assert best.score <= truth.score + 0.03, (best.score, truth.score)
    assert abs(best.params["budget_s"] / PLANTED["budget_s"] - 1) < 0.25, best.params["budget_s"]
    assert abs(best.params["forget_s"] / PLANTED["forget_s"] - 1) < 0.35, best.params["forget_s"]
    assert r.phases["lhs"] == 24 and r.phases["refine"] > 24


# -- the command line --------------------------------------------------------------------------


def _fit(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "harness", "fit", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_fit_cli_smoke(tmp_path):
    out = tmp_path / "fit"
    p = _fit("--budget-min", "0.1", "--keep", "1", "--seeds", "2", "--out", str(out), cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "tables beside the field's" in p.stdout and "ablation" in p.stdout
    assert "[lhs]" in p.stderr and "budget 0.1 min" in p.stderr
    doc = json.loads((out / "fit.json").read_text())
    assert doc["best"][0]["tables"]["retry_curve"] and len(doc["ablation"]) == 1 + len(family.MECHANISMS)
    assert (out / "fit.png").stat().st_size > 10_000
    w = World.load(str(out / "fit-1.json"))
    assert w.hypothesis == "field" and w.edge == "none"
    again, lost = export.to_world(doc["best"][0]["params"], name="fit-1")
    assert again == w and lost == doc["best"][0]["world_lost"]
    # --from re-reports an earlier fit without searching (what --confirm N uses later)
    p = _fit("--from", str(out), "--out", str(tmp_path / "again"), cwd=ROOT)
    assert p.returncode == 0, p.stderr
    again = json.loads((tmp_path / "again" / "fit.json").read_text())
    assert "[lhs" not in p.stderr and [b["params"] for b in again["best"]] == [b["params"] for b in doc["best"]]
    assert again["ablation"] == doc["ablation"]


def test_fit_cli_rejects_bad_input(tmp_path):
    p = _fit("--budget-min", "0", cwd=tmp_path)
    assert p.returncode == 2 and "--budget-min" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    bad = tmp_path / "f.json"
    bad.write_text(json.dumps({"figures": {"api_errors": {"value": 1, "source": "x"}}}))
    p = _fit("--field", str(bad), cwd=tmp_path)
    assert p.returncode == 2 and "--field" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_hour_tables_of_both_shapes(tmp_path):
    # the field JSON's {"tz", "counts"} and the analyzer's flat {hour: n} (lab-vs-field reports)
    from harness.fit import plot

    lab = {"by_hour_local": {"07": 2, "08": 1}}
    assert plot.hour_counts(lab) == {"07": 2, "08": 1}
    assert plot.hour_counts({"by_hour_local": {"tz": "UTC-05:00", "counts": {"07": 1}}}) == {"07": 1}
    ref = score.field_tables()
    fake = dict(ref, by_hour_local=lab["by_hour_local"], retry_curve=[{"attempt": 1, "triggered": 3,
                                                                       "recovered": 3, "rate": 1.0}])
    assert plot.figure(ref, [("lab", fake)], str(tmp_path / "f.png")).endswith("f.png")
