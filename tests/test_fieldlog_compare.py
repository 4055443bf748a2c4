"""Lab-vs-field signatures and distances (harness/fieldlog/compare.py)."""

import math

import pytest

from harness.fieldlog import compare


def _report(curve, buckets, codes=None):
    return {"retry_curve": [{"attempt": n, "triggered": t, "recovered": r} for n, t, r in curve],
            "size_buckets": [{"bucket": b, "errors": e} for b, e in buckets],
            "by_code": codes or {"unknown": sum(t for _, t, _ in curve)},
            "totals": {"api_errors": sum(t for _, t, _ in curve)}}


def test_field_signature_comes_from_the_reports_tables():
    sig = compare.field_signature()
    assert sig["retry_1"] == pytest.approx(70 / 110)
    assert sig["retry_2"] == pytest.approx(9 / 40)
    # attempts 3..10: recovered 4+3+1+2+3+1+3+0 over triggered 31+27+24+23+21+18+17+14
    assert sig["retry_3+"] == pytest.approx(17 / 175)
    assert sig["large_share"] == pytest.approx(129 / 173)
    assert sig["econnreset"] == 1.0  # all 325 are ECONNRESET (§3.1)


def test_signature_and_distance_of_a_lab_report():
    # Bun's logs: 20 records, 15 ECONNRESET, 4 ENETUNREACH, 1 without a cause (not counted)
    rep = _report([(1, 10, 5), (2, 5, 0), (3, 5, 1)], [("<1MB", 2), ("1-3MB", 0), ("3-6MB", 3), (">=6MB", 15)],
                  {"ECONNRESET": 15, "ENETUNREACH": 4, "unknown": 1})
    sig = compare.signature(rep)
    assert sig == {"retry_1": 0.5, "retry_2": 0.0, "retry_3+": 0.2, "large_share": 0.75, "econnreset": 15 / 19}
    ref = {"retry_1": 0.6, "retry_2": 0.2, "retry_3+": 0.1, "large_share": 0.75, "econnreset": 1.0}
    d, used = compare.distance(sig, ref)
    assert used == list(compare.COMPONENTS)
    assert d == pytest.approx(math.sqrt((0.01 + 0.04 + 0.01 + 0 + (4 / 19) ** 2) / 5))


def test_econnreset_share_is_undefined_where_codes_are_unknown():
    """Node writes cause {}: the analyzer's "unknown" says nothing about the code, so the
    component is left out rather than read as 0 % ECONNRESET."""
    node = compare.signature(_report([(1, 3, 1)], [(">=6MB", 3)], {"unknown": 3}))
    assert node["econnreset"] is None
    _, used = compare.distance(node, compare.field_signature())
    assert "econnreset" not in used
    bun = compare.signature(_report([(1, 3, 1)], [(">=6MB", 3)], {"ENETUNREACH": 3}))
    assert bun["econnreset"] == 0.0
    assert compare.distance(bun, compare.field_signature())[0] > compare.distance(node, compare.field_signature())[0]


def test_undefined_components_are_left_out_and_worlds_without_errors_rank_last():
    near = _report([(1, 4, 3)], [(">=6MB", 4)])  # only retry_1 and large_share are defined
    far = _report([(1, 4, 0), (2, 4, 0)], [("<1MB", 8)])
    none = _report([], [("<1MB", 0)])
    matches = compare.compare({"none": none, "far": far, "near": near})
    assert [m.world for m in matches] == ["near", "far", "none"]
    assert matches[0].used == ("retry_1", "large_share")
    assert matches[2].distance is None and matches[2].api_errors == 0
    assert compare.closest(matches) == "near"
    text = compare.render(matches)
    assert "closest world: near" in text and "no api_error records" in text
    assert "few records (near, far: < 10 api_errors)" in text
    assert compare.closest(compare.compare({"none": none})) is None
