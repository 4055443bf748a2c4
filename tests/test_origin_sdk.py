"""The real anthropic Python SDK against the origin: it must accept our stream as the API's."""

import json
import time

import anthropic
import pytest

from harness.origin import OriginConfig, OriginThread

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def origin():
    with OriginThread(OriginConfig(stream={"deltas": 5, "ping_interval": 0.05})) as o:
        yield o.info


def client(info, max_retries=0, **headers):
    # trust_env=False: never route loopback traffic through a proxy from the environment.
    return anthropic.Anthropic(base_url=info.url, api_key="test", max_retries=max_retries,
                               default_headers=headers or None,
                               http_client=anthropic.DefaultHttpxClient(trust_env=False))


def test_non_streaming_create(origin):
    msg = client(origin).messages.create(model="claude-t", max_tokens=64, messages=MESSAGES)
    assert msg.type == "message" and msg.model == "claude-t"
    assert msg.content[0].text == " alpha bravo charlie delta echo"
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens == 5


def test_streaming_create_iterates_every_event(origin):
    stream = client(origin).messages.create(model="claude-t", max_tokens=64, messages=MESSAGES,
                                            stream=True)
    types = [event.type for event in stream]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert types.count("content_block_delta") == 5
    assert types[-2] == "message_delta"


def test_stream_helper_accumulates_thinking_text_and_tool_use(origin):
    sdk = client(origin, **{"x-resetlab-stream": json.dumps(
        {"deltas": 2, "thinking_deltas": 3, "tool_deltas": 4, "gap": 0.02})})
    with sdk.messages.stream(model="claude-t", max_tokens=64, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == " alpha bravo charlie" and final.content[0].signature
    assert final.content[2].input == {"query": "foxtrot golf hotel alpha"}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == 9


def test_sdk_retries_through_529_attempts_1_and_2(origin):
    # retry-after-ms keeps the SDK's backoff short; attempts come from x-stainless-retry-count.
    plan = [{"when": {"phase": "before_response_headers"},
             "do": {"http_status": {"status": 529, "type": "overloaded_error",
                                    "headers": {"x-should-retry": "true", "retry-after-ms": "10"}}},
             "attempts": [1, 2]}]
    plan_json = json.dumps(plan)
    sdk = client(origin, max_retries=2, **{"x-resetlab-plan": plan_json})
    msg = sdk.messages.create(model="claude-t", max_tokens=64, messages=MESSAGES)
    assert msg.content[0].text.strip()
    # Only this test's requests: an earlier test's record may be logged after ours began.
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in list(origin.records)
                   if r["headers"].get("x-resetlab-plan") == plan_json]
        if len(records) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert [(r["attempt"], r["attempt_source"], r["status"]) for r in records] == [
        (1, "x-stainless-retry-count", 529), (2, "x-stainless-retry-count", 529),
        (3, "x-stainless-retry-count", 200)]


def test_sdk_sees_529_without_retries(origin):
    plan = [{"do": {"http_status": {"status": 529}}}]
    sdk = client(origin, **{"x-resetlab-plan": json.dumps(plan)})
    with pytest.raises(anthropic.APIStatusError) as info:
        sdk.messages.create(model="claude-t", max_tokens=64, messages=MESSAGES)
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"


def test_sdk_mid_stream_reset_is_a_raw_transport_error(origin):
    plan = [{"when": {"after_events": 4}, "do": {"tcp_rst": {}}}]
    sdk = client(origin, **{"x-resetlab-plan": json.dumps(plan)})
    seen = []
    with pytest.raises(Exception) as info:  # noqa: B017 - the type is what we record
        for event in sdk.messages.create(model="claude-t", max_tokens=64, messages=MESSAGES,
                                         stream=True):
            seen.append(event.type)
    assert not isinstance(info.value, anthropic.APIStatusError)
    assert seen and "message_stop" not in seen
