"""The stream: event order and shapes per the wire format, pacing, pings, stream config."""

import json

import pytest

from harness.origin import OriginThread, SpecError, StreamSpec, parse_stream_spec
from harness.origin.sse import build_message, encode_event, stream_script
from harness.origin.testing import h1_request, h2_request, messages_body, parse_sse


@pytest.fixture(scope="module")
def origin():
    with OriginThread(stream={"deltas": 4}) as o:
        yield o.info


def _stream_hdr(**cfg):
    return {"x-resetlab-stream": json.dumps(cfg)}


def test_script_order_text_only():
    msg = build_message(StreamSpec(deltas=3), "m", 10)
    names = [n for n, _ in stream_script(msg)]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta",
                     "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]


def test_script_shapes_with_thinking_text_and_tool():
    msg = build_message(StreamSpec(deltas=2, thinking_deltas=2, tool_deltas=3), "m", 7)
    events = stream_script(msg)
    for name, data in events:
        assert data["type"] == name  # `event:` name and data.type always agree
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 7 and start["usage"]["output_tokens"] == 1
    blocks = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert blocks[0] == {"type": "thinking", "thinking": "", "signature": ""}
    assert blocks[1] == {"type": "text", "text": ""}
    assert blocks[2]["type"] == "tool_use" and blocks[2]["input"] == {}
    assert blocks[2]["id"].startswith("toolu_")
    by_index: dict[int, list[dict]] = {}
    for n, d in events:
        if n == "content_block_delta":
            by_index.setdefault(d["index"], []).append(d["delta"])
    assert [x["type"] for x in by_index[0]] == ["thinking_delta"] * 2 + ["signature_delta"]
    assert [x["type"] for x in by_index[1]] == ["text_delta"] * 2
    assert [x["type"] for x in by_index[2]] == ["input_json_delta"] * 3
    # The partial JSON pieces concatenate to the tool input of the final message.
    tool_json = "".join(x["partial_json"] for x in by_index[2])
    assert json.loads(tool_json) == msg.body["content"][2]["input"]
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 2 + 2 + 3  # cumulative: thinking + text + tool
    assert events[-1] == ("message_stop", {"type": "message_stop"})
    # The ping follows the first content_block_start, and there is only that one.
    assert [n for n, _ in events].index("ping") == 2
    assert sum(n == "ping" for n, _ in events) == 1


def test_sse_framing():
    assert encode_event("ping", {"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_stream_over_http1_is_exactly_the_script(origin):
    r = h1_request(origin.address, body=messages_body(stream=True))
    assert r.status == 200 and r.end == "complete"
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["request-id"].startswith("req_")
    assert "anthropic-ratelimit-requests-limit" in r.headers
    names = [n for n, _ in r.events()]
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 4 \
        + ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(d["delta"]["text"] for n, d in r.events() if n == "content_block_delta")
    assert text == " alpha bravo charlie delta"
    assert r.events()[0][1]["message"]["model"] == "claude-test"  # echoes the request's model


def test_stream_over_h2c_matches_http1(origin):
    r = h2_request(origin.address, body=messages_body(stream=True))
    assert r.status == 200 and r.end == "complete"
    assert [n for n, _ in r.events()][-1] == "message_stop"
    assert len(r.events()) == 10


def test_non_streaming_message_shape(origin):
    r = h1_request(origin.address, body=messages_body(stream=False),
                   headers=_stream_hdr(deltas=3, thinking_deltas=1))
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["type"] == "message" and body["role"] == "assistant"
    assert [b["type"] for b in body["content"]] == ["thinking", "text"]
    assert body["content"][1]["text"] == " bravo charlie delta"
    assert body["content"][0]["signature"]
    assert body["stop_reason"] == "end_turn" and body["usage"]["output_tokens"] == 4


def test_per_request_stream_config_overrides_server(origin):
    r = h1_request(origin.address, body=messages_body(), headers=_stream_hdr(
        deltas=1, tool_deltas=2, stop_reason="max_tokens", tokens_per_delta=3))
    events = r.events()
    assert sum(n == "content_block_delta" for n, _ in events) == 3
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[-2][1]["usage"]["output_tokens"] == 9


def test_gaps_and_idle_pace_the_stream(origin):
    cfg = dict(deltas=3, gap=0.0, gaps=[0, 0, 0, 0.3], idle=[{"after_event": 6, "seconds": 0.4}],
               ping_interval=None)
    r = h1_request(origin.address, body=messages_body(), headers=_stream_hdr(**cfg))
    times = [t for t, _ in r.event_times()]
    assert len(times) == 9 and r.end == "complete"
    assert times[4] - times[3] >= 0.25  # gaps[3]: silence after the 4th event
    assert times[6] - times[5] >= 0.35  # idle after the 6th event
    assert times[3] - times[0] < 0.2 and times[8] - times[6] < 0.2  # elsewhere no gap


def test_duration_spreads_events(origin):
    r = h1_request(origin.address, body=messages_body(),
                   headers=_stream_hdr(deltas=4, duration=0.5, ping_interval=None))
    times = [t for t, _ in r.event_times()]
    assert times[-1] - times[0] == pytest.approx(0.5, abs=0.15)
    assert times[1] - times[0] == pytest.approx(0.5 / 9, abs=0.04)  # 10 events, 9 equal gaps


def test_pings_every_interval_of_silence(origin):
    cfg = dict(deltas=2, ping_interval=0.2, idle=[{"after_event": 4, "seconds": 1.0}])
    r = h1_request(origin.address, body=messages_body(), headers=_stream_hdr(**cfg))
    named = r.event_times()
    names = [n for _, n in named]
    # Scripted: start, block start, ping, delta | silence with pings | delta, stop, delta, stop.
    assert names[:4] == ["message_start", "content_block_start", "ping", "content_block_delta"]
    middle = names[4:-4]
    assert set(middle) == {"ping"} and 3 <= len(middle) <= 5
    ping_times = [t for t, n in named[4:-4]]
    steps = [b - a for a, b in zip([named[3][0], *ping_times], ping_times, strict=False)]
    assert all(0.12 <= s <= 0.4 for s in steps), steps
    assert names[-1] == "message_stop"


def test_no_ping_before_message_start_and_none_when_disabled(origin):
    r = h1_request(origin.address, body=messages_body(),
                   headers=_stream_hdr(deltas=1, ping_interval=0.05, first_event_delay=0.3))
    assert r.events()[0][0] == "message_start"
    r = h1_request(origin.address, body=messages_body(),
                   headers=_stream_hdr(deltas=1, ping_interval=None, gap=0.06))
    assert sum(n == "ping" for n, _ in r.events()) == 1  # only the scripted one
    r = h1_request(origin.address, body=messages_body(),
                   headers=_stream_hdr(deltas=1, ping_interval=0.02, gap=0.06))
    assert sum(n == "ping" for n, _ in r.events()) > 3  # same gaps, pings on


def test_headers_delay_before_headers_and_non_stream_waits_for_generation(origin):
    r = h1_request(origin.address, body=messages_body(), headers=_stream_hdr(headers_delay=0.3))
    assert r.t_headers >= 0.28
    r = h1_request(origin.address, body=messages_body(stream=False),
                   headers=_stream_hdr(deltas=3, gap=0.05))
    assert r.t_headers >= 0.35  # 8 gaps of 0.05 s in the script this would have streamed


@pytest.mark.parametrize(("cfg", "needles"), [
    ({"deltas": -1}, ["x-resetlab-stream.deltas", "-1", "integer"]),
    ({"gap": "fast"}, ["x-resetlab-stream.gap", '"fast"', "number"]),
    ({"idle": [{"after_event": 0, "seconds": 1}]}, ["idle[0].after_event", "integer >= 1"]),
    ({"delta": 3}, ["x-resetlab-stream.delta", "deltas"]),
])
def test_bad_stream_config_is_one_line_and_400(origin, cfg, needles):
    with pytest.raises(SpecError) as info:
        parse_stream_spec(cfg, where="x-resetlab-stream")
    assert "\n" not in str(info.value)
    for needle in needles:
        assert needle in str(info.value)
    r = h1_request(origin.address, body=messages_body(), headers=_stream_hdr(**cfg))
    assert r.status == 400
    assert r.json()["error"] == {"type": "invalid_request_error", "message": str(info.value)}


def test_parse_sse_drops_torn_tail():
    data = encode_event("ping", {"type": "ping"}) + b"event: message_stop\ndata: {"
    assert parse_sse(data) == [("ping", {"type": "ping"})]


def test_headers_delay_grows_with_the_request_body():
    """headers_delay_per_mb: prefill time proportional to the context size."""
    import json as _json

    from harness.origin import OriginConfig, OriginThread
    from harness.origin.testing import h1_request, messages_body

    with OriginThread(OriginConfig(stream={"headers_delay_per_mb": 0.5, "deltas": 2})) as o:
        small = h1_request(o.info.address, body=messages_body(), headers={"x-api-key": "k"})
        big = h1_request(o.info.address, body=messages_body(padding="x" * 2_000_000),
                         headers={"x-api-key": "k", "x-resetlab-stream": _json.dumps({"deltas": 2})})
    assert small.t_headers < 0.3
    assert 0.9 <= big.t_headers <= 2.5  # 2 MB x 0.5 s/MB = 1 s
