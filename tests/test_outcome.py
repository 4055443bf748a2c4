"""The outcome taxonomy: one classifier, and records that validate against the schema."""

import jsonschema
import pytest

from harness.outcome import Observation, ProbeRecord, classify, validate

CASES = [
    (Observation("complete", 200, message_stop=True), "completed"),
    (Observation("complete", 200), "truncated_clean"),
    (Observation("eof", 200, message_stop=True), "completed"),
    (Observation("eof", 200), "fin_mid_stream"),
    (Observation("eof"), "fin_before_headers"),
    (Observation("reset"), "reset_before_headers"),
    (Observation("reset", 200), "reset_mid_stream"),
    (Observation("rst_stream", 200, h2_code=2), "h2_rst_stream(2)"),
    (Observation("rst_stream", h2_code=8), "h2_rst_stream(8)"),
    (Observation("goaway", 200, h2_code=0), "h2_goaway(0)"),
    (Observation("goaway", 200, h2_code=0, message_stop=True), "completed"),
    (Observation("complete", 529, error_type="overloaded_error"), "http_error(529, overloaded_error)"),
    (Observation("reset", 413, error_type="request_too_large"), "http_error(413, request_too_large)"),
    (Observation("complete", 200, sse_error_type="overloaded_error"), "sse_error(overloaded_error)"),
    (Observation("timeout", 200), "timeout(body)"),
    (Observation("timeout"), "timeout(headers)"),
    (Observation("timeout", timeout_phase="connect"), "timeout(connect)"),
    (Observation("connect_error", errno=101), "connect_error(101)"),
]


@pytest.mark.parametrize("obs, label", CASES, ids=[c[1] for c in CASES])
def test_classify(obs, label):
    assert classify(obs).label == label


def test_unknown_end_is_one_clear_line():
    with pytest.raises(ValueError, match=r"^Observation.end: got 'boom'; allowed one of complete,"):
        classify(Observation("boom"))


@pytest.mark.parametrize("obs, label", CASES, ids=[c[1] for c in CASES])
def test_records_validate(obs, label):
    rec = ProbeRecord.from_outcome(classify(obs), "raw", protocol="h2c", bytes_received=10, t_total=1.5)
    validate(rec.to_dict())
    assert rec.label == label


def test_schema_rejects_what_it_should():
    rec = ProbeRecord.from_outcome(classify(Observation("reset", 200)), "raw").to_dict()
    for bad in ({"outcome": "exploded"}, {"client": "wget"}, {"bytes_received": -1}, {"surprise": 1},
                {"schema_version": 2}):
        with pytest.raises(jsonschema.ValidationError):
            validate({**rec, **bad})


def test_resets_are_the_abort_kinds():
    assert classify(Observation("reset", 200)).is_reset
    assert classify(Observation("rst_stream", 200, h2_code=2)).is_reset
    assert not classify(Observation("eof", 200)).is_reset
    assert not classify(Observation("complete", 529)).is_reset


def test_record_status_from_outcome_or_headers():
    err = classify(Observation("complete", 529, error_type="overloaded_error"))
    assert ProbeRecord.from_outcome(err, "raw", status=529).status == 529
    mid = classify(Observation("reset", 200))
    assert ProbeRecord.from_outcome(mid, "raw", status=200).status == 200
