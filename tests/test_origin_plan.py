"""Fault plans as data: the issue's examples parse verbatim, bad input fails in one clear line,
and condition timing (ready_at) means what the docs say."""

import json
import math
from types import SimpleNamespace

import pytest

from harness.origin.actions import ACTIONS
from harness.origin.plan import PHASES, parse_plan, plan_to_json
from harness.origin.validate import SpecError

EXAMPLES = [
    '[{"when": {"after_events": 5}, "do": {"tcp_rst": {}}}]',
    '[{"when": {"phase": "before_response_headers"}, "do": {"tcp_rst": {}}}]',
    '[{"when": {"after_seconds": 30}, "do": {"h2_rst_stream": {"code": 2}}}]',
    '[{"when": {"phase": "before_response_headers"}, "do": {"http_status": {"status": 529, '
    '"type": "overloaded_error", "headers": {"x-should-retry": "true"}}}, "attempts": [1, 2]}]',
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_issue_examples_parse_verbatim_and_round_trip(text):
    plan = parse_plan(text)
    assert len(plan) == 1
    # Round trip: the normalized JSON parses to the same rule again.
    again = parse_plan(json.dumps(plan_to_json(plan)))
    assert plan_to_json(again) == plan_to_json(plan)


def test_examples_mean_what_they_say():
    rst, before, h2rst, status = (parse_plan(t)[0] for t in EXAMPLES)
    assert rst.action.name == "tcp_rst" and rst.when.after_events == 5
    assert before.when.phase == "before_response_headers"
    assert h2rst.action.params == {"code": 2} and h2rst.when.after_seconds == 30.0
    assert status.attempts == frozenset({1, 2})
    assert status.action.params["status"] == 529
    assert status.action.params["headers"] == {"x-should-retry": "true"}


def test_every_documented_action_is_registered():
    assert set(ACTIONS) == {"tcp_rst", "fin", "h2_rst_stream", "h2_goaway", "stall", "sse_error",
                            "http_status", "drip"}
    assert PHASES == ("request_headers", "request_body", "before_response_headers", "stream")


BAD = [
    # (plan, substrings the single error line must contain)
    ([{"when": {"phase": "strem"}, "do": {"tcp_rst": {}}}],
     ["plan[0].when.phase", '"strem"', "request_headers", "stream"]),
    ([{"do": {"tcp_rest": {}}}], ["plan[0].do", "tcp_rest", "tcp_rst", "h2_goaway"]),
    ([{"do": {"tcp_rst": {}, "fin": {}}}], ["plan[0].do", "exactly one action"]),
    ([{"when": {"after_events": -1}, "do": {"fin": {}}}],
     ["plan[0].when.after_events", "-1", "integer >= 0"]),
    ([{"when": {"after_events": 1.5}, "do": {"fin": {}}}], ["after_events", "1.5", "integer"]),
    ([{"when": {"after_evnts": 1}, "do": {"fin": {}}}], ["after_evnts", "after_events"]),
    ([{"do": {"h2_rst_stream": {"code": "BOGUS"}}}],
     ["plan[0].do.h2_rst_stream.code", '"BOGUS"', "INTERNAL_ERROR"]),
    ([{"do": {"stall": {}}}], ["plan[0].do.stall", "exactly one of seconds, forever"]),
    ([{"do": {"stall": {"seconds": 1, "forever": True}}}], ["exactly one of seconds, forever"]),
    ([{"do": {"http_status": {"status": 200}}}], ["http_status.status", "200", "400..599"]),
    ([{"do": {"http_status": {}}}], ["http_status.status", "missing"]),
    ([{"do": {"drip": {"bytes_per_second": 0}}}], ["drip.bytes_per_second", "0", "number > 0"]),
    ([{"do": {"fin": {}}, "attempts": [0]}], ["plan[0].attempts[0]", "integer >= 1"]),
    ([{"do": {"fin": {}}, "attempts": []}], ["plan[0].attempts", "non-empty list"]),
    ([{"when": {"after_seconds": 1}}], ["plan[0].do", "missing", "tcp_rst"]),
    ({"when": {}}, ["plan", "list of rules"]),
    ([{"do": {"fin": {"x": 1}}}], ["plan[0].do.fin.x", "unknown key"]),
]


@pytest.mark.parametrize(("plan", "needles"), BAD)
def test_bad_plans_fail_with_one_clear_line(plan, needles):
    with pytest.raises(SpecError) as info:
        parse_plan(json.dumps(plan))
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_invalid_json_is_one_line():
    with pytest.raises(SpecError) as info:
        parse_plan('[{"do": {"tcp_rst": {}}')
    assert str(info.value).startswith("plan: not valid JSON")
    assert "\n" not in str(info.value)


def test_h2_code_by_name():
    (rule,) = parse_plan([{"do": {"h2_goaway": {"code": "ENHANCE_YOUR_CALM"}}}])
    assert rule.action.params["code"] == 11


def _progress(**kw):
    base = dict(phase="stream", events=0, bytes_sent=0, body_bytes=0, t0=100.0,
                last_activity=100.0, streaming=True)
    return SimpleNamespace(**{**base, **kw})


def test_ready_at_counts_and_times():
    (r,) = parse_plan([{"when": {"after_events": 3, "after_seconds": 2}, "do": {"fin": {}}}])
    assert r.when.ready_at(_progress(events=2)) == math.inf  # count not reached yet
    assert r.when.ready_at(_progress(events=3)) == 102.0  # then the time condition decides
    (r,) = parse_plan([{"when": {"phase": "request_body"}, "do": {"fin": {}}}])
    assert r.when.ready_at(_progress()) == math.inf  # wrong phase
    assert r.when.ready_at(_progress(phase="request_body")) == -math.inf  # no time condition


def test_ready_at_idle_and_size_times_duration():
    (r,) = parse_plan([{"when": {"idle_seconds_over": 5}, "do": {"fin": {}}}])
    assert r.when.ready_at(_progress(last_activity=110.0)) == pytest.approx(115.0)
    (r,) = parse_plan([{"when": {"body_bytes_times_seconds_over": 1000}, "do": {"fin": {}}}])
    assert r.when.ready_at(_progress(body_bytes=0)) == math.inf
    assert r.when.ready_at(_progress(body_bytes=500)) == pytest.approx(102.0)  # 500 B x 2 s
    (r,) = parse_plan([{"when": {"body_bytes_over": 10, "streaming": False}, "do": {"fin": {}}}])
    assert r.when.ready_at(_progress(body_bytes=10, streaming=False)) == math.inf  # strictly over
    assert r.when.ready_at(_progress(body_bytes=11, streaming=False)) == -math.inf
    assert r.when.ready_at(_progress(body_bytes=11, streaming=True)) == math.inf


def test_claude_code_retries_are_numbered_by_the_counter():
    """Claude Code sends x-stainless-retry-count: 0 on every retry; with its session header
    that is not a count, so attempts come from the counter instead."""
    from harness.origin.attempts import from_headers

    cc = {"x-stainless-retry-count": "0", "x-claude-code-session-id": "abc"}
    assert from_headers(cc.get) is None
    assert from_headers({"x-stainless-retry-count": "0"}.get) == (1, "x-stainless-retry-count")
    assert from_headers({**cc, "x-stainless-retry-count": "2"}.get) == (3, "x-stainless-retry-count")
