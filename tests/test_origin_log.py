"""The request log: one JSON line per request, schema as documented, keys never written."""

import json

import pytest

from harness.origin import OriginConfig, OriginThread
from harness.origin.testing import h1_request, h2_request, messages_body, wait_records

SECRET_KEY = "sk-ant-api03-SECRETKEY-abcdef"
SECRET_TOKEN = "sk-ant-oat01-SECRETTOKEN-123456"
FIELDS = {"ts", "request_id", "conn", "stream_id", "client", "protocol", "method", "path",
          "headers", "body_bytes", "body_sha256", "attempt", "attempt_source", "status", "error_type", "served",
          "events", "pings", "bytes_sent", "injected", "actions", "not_applicable", "outcome",
          "stream", "plan_source", "timings"}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    path = tmp_path_factory.mktemp("log") / "requests.jsonl"
    plan = [{"when": {"after_events": 40}, "do": {"tcp_rst": {}}}]
    with OriginThread(OriginConfig(log_path=str(path), stream={"deltas": 50})) as o:
        addr = o.info.address
        h1_request(addr, body=messages_body(), headers={"x-api-key": SECRET_KEY})
        h2_request(addr, body=messages_body(stream=False),
                   headers={"x-api-key": None, "authorization": f"Bearer {SECRET_TOKEN}"})
        h1_request(addr, body=messages_body(), headers={"x-api-key": SECRET_KEY,
                                                        "x-resetlab-plan": json.dumps(plan)})
        h1_request(addr, "GET", "/nope", headers={"x-api-key": SECRET_KEY})
        wait_records(o.info.records, 4)
    text = path.read_text()
    return text, [json.loads(line) for line in text.splitlines()]


def test_one_line_per_request_with_the_documented_fields(logged):
    _, records = logged
    assert len(records) == 4
    for rec in records:
        assert set(rec) == FIELDS


def test_api_keys_are_never_written(logged):
    text, records = logged
    assert SECRET_KEY not in text and SECRET_TOKEN not in text
    assert "SECRET" not in text
    assert records[0]["headers"]["x-api-key"] == "[redacted]"
    assert records[1]["headers"]["authorization"] == "[redacted]"


def test_what_was_served_and_injected(logged):
    _, (stream, message, reset, missing) = logged
    assert (stream["protocol"], stream["served"], stream["outcome"]) == ("http/1.1", "stream",
                                                                         "completed")
    assert stream["events"] == 56 and stream["injected"] is None and stream["status"] == 200
    assert (message["protocol"], message["served"], message["stream_id"]) == ("h2c", "message", 1)
    assert reset["served"] == "stream" and reset["events"] == 40
    assert reset["injected"] == "tcp_rst" and reset["outcome"] == "injected"
    assert reset["actions"][0]["events"] == 40 and reset["plan_source"] == "header"
    assert (missing["status"], missing["error_type"], missing["served"]) == (
        404, "not_found_error", "error")


def test_attempt_and_timings(logged):
    _, records = logged
    stream = records[0]
    assert stream["attempt"] == 1 and stream["attempt_source"] == "counter"
    assert stream["body_bytes"] == len(messages_body())
    t = stream["timings"]
    assert t["received"] <= t["body_received"] <= t["headers_sent"] <= t["finished"]
    assert abs(stream["ts"] - t["received"]) < 1e-6
    assert records[3]["timings"]["headers_sent"] is not None
    reset = records[2]
    assert reset["attempt"] == 2  # same client IP, path and body as the first request


def test_a_delivered_h2_response_is_completed_even_if_the_client_closes_at_once():
    # The raw client closes its socket the moment it sees END_STREAM; the connection's
    # end cancels the stream's task. That must not turn a delivered response into
    # "connection_closed" (it did for ~1 in 6 requests before the fix).
    n = 120
    with OriginThread(OriginConfig(stream={"deltas": 1})) as o:
        for _ in range(n):
            r = h2_request(o.info.address, body=messages_body())
            assert (r.status, r.end) == (200, "complete")
        records = wait_records(o.info.records, n)
    assert [rec["outcome"] for rec in records].count("completed") == n
