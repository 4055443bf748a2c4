"""Property tests for the origin's data contracts (hypothesis, bounded example counts):

- SSE framing: any text inside a text_delta survives encode -> parse, for our parser, for a
  real client's decoder fed arbitrary chunk cuts, and end to end through a running origin;
- the event grammar of every stream the script builder can produce;
- fault plans: parse -> serialize -> parse is the identity and serializing gives the
  normalized input; any single mutation of a valid plan is one error line naming the rule
  index and the field.

With the environment variable CI set, the "ci" profile makes every run derandomized.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re

import h2.errors
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.origin import OriginThread, injector
from harness.origin import cli as origin_cli
from harness.origin.actions import ACTIONS, REQUIRED
from harness.origin.plan import PHASES, parse_plan, plan_to_json
from harness.origin.sse import (
    StreamSpec,
    build_message,
    encode_event,
    parse_stream_spec,
    stream_script,
)
from harness.origin.testing import RawResult, h1_request, h2_request, messages_body, parse_sse
from harness.origin.validate import SpecError

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

FAST = settings(max_examples=200, deadline=None)
WIRE = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def origin():
    with OriginThread(stream={"deltas": 1}) as o:
        yield o.info


# --- SSE round trip ------------------------------------------------------------------------

SSE_TRAPS = ["", "\n", "\r", "\r\n", "\n\n", "\r\r", "data: x", "data:", "event: ping", ":",
             ": comment", "id: 7", "retry: 10", '\ndata: {"type":"ping"}\n\n', "\x00", "\x1b",
             "\u2028", "\u2029", "\x85", "\ufeff", "\"", "\\", "é", "𝄞", "😀"]
# Arbitrary unicode (surrogate code points cannot be encoded; everything else is fair game),
# salted with the pieces that break hand-written SSE framing.
TEXT = st.lists(st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                          st.sampled_from(SSE_TRAPS)), max_size=8).map("".join)


def _text_delta(text: str, index: int = 0) -> tuple[str, dict]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index,
                                    "delta": {"type": "text_delta", "text": text}})


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def test_the_origin_sends_events_with_this_encoder():
    assert injector.encode_event is encode_event


@FAST
@given(texts=st.lists(TEXT, min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_sse_text_round_trips_through_encoder_and_parsers(texts, cuts):
    events = [_text_delta(t, i) for i, t in enumerate(texts)]
    frames = [encode_event(name, data) for name, data in events]
    for frame in frames:
        # one `event:` line, one `data:` line, one blank line; whatever the text holds
        assert frame.count(b"\n") == 3 and frame.endswith(b"\n\n") and b"\r" not in frame
        assert frame.startswith(b"event: content_block_delta\ndata: {")
    wire = b"".join(frames)
    assert parse_sse(wire) == events
    assert [d["delta"]["text"] for _, d in parse_sse(wire)] == texts
    # The incremental parser of the raw clients (event arrival times), fed arbitrary cuts.
    chunks = _cut(wire, cuts)
    assert b"".join(chunks) == wire
    result = RawResult(body=wire, chunks=[(0.0, c) for c in chunks])
    assert [n for _, n in result.event_times()] == [n for n, _ in events]
    # What a real client sees: the anthropic SDK's SSE decoder, fed the same cuts.
    # anthropic is a dependency setup.sh installs: a missing or moved decoder fails, never skips
    from anthropic import _streaming as streaming

    seen = [(sse.event, json.loads(sse.data))
            for sse in streaming.SSEDecoder().iter_bytes(iter(chunks))]
    assert seen == events


@WIRE
@given(text=TEXT.filter(bool), proto=st.sampled_from(["http/1.1", "h2c"]))
def test_any_text_survives_the_origin_end_to_end(origin, text, proto):
    # The one place a request can put its own text into the stream: an sse_error message.
    plan = [{"when": {"after_events": 1}, "do": {"sse_error": {"message": text}}}]
    headers = {"x-resetlab-plan": json.dumps(plan)}  # ASCII-only JSON: a valid header value
    send = h1_request if proto == "http/1.1" else h2_request
    r = send(origin.address, body=messages_body(), headers=headers)
    assert r.status == 200 and r.end == "complete"
    names = [n for n, _ in r.events()]
    assert names == ["message_start", "error"]
    assert r.events()[1][1] == {"type": "error",
                                "error": {"type": "overloaded_error", "message": text}}


# --- the event grammar ---------------------------------------------------------------------

STREAM_CFG = st.fixed_dictionaries({}, optional={
    "deltas": st.integers(0, 40),
    "thinking_deltas": st.integers(0, 20),
    "tool_deltas": st.integers(0, 30),
    "tokens_per_delta": st.integers(1, 9),
    "stop_reason": st.one_of(st.none(), st.sampled_from(["end_turn", "max_tokens", "tool_use",
                                                          "stop_sequence", "refusal"])),
    "gap": st.floats(0, 5),
    "ping_interval": st.one_of(st.none(), st.floats(0.01, 60)),
})
TOKEN = {"message_start": "S", "content_block_start": "B", "ping": "P",
         "content_block_delta": "D", "content_block_stop": "E", "message_delta": "M",
         "message_stop": "Z"}
# message_start, then blocks; the one ping right after the FIRST content_block_start
GRAMMAR = re.compile(r"SBPD*E(BD*E)*MZ")


def _check_grammar(spec: StreamSpec, model: str, input_tokens: int,
                   events: list[tuple[str, dict]], body: dict) -> None:
    for name, data in events:
        assert data["type"] == name
    tokens = "".join(TOKEN[n] for n, _ in events)
    want_types = (["thinking"] * bool(spec.thinking_deltas) + ["text"] * bool(spec.deltas)
                  + ["tool_use"] * bool(spec.tool_deltas))
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == model
    assert start["usage"]["input_tokens"] == input_tokens
    final = events[-2][1]
    stop = spec.stop_reason or ("tool_use" if spec.tool_deltas else "end_turn")
    assert final["delta"] == {"stop_reason": stop, "stop_sequence": None}
    assert final["usage"]["input_tokens"] == input_tokens  # cumulative: the whole request
    if not want_types:
        # The origin's one documented exception: no block at all (every count 0) is
        # message_start, ping, message_delta, message_stop, with output_tokens 1.
        assert tokens == "SPMZ" and final["usage"]["output_tokens"] == 1
        return
    assert GRAMMAR.fullmatch(tokens), tokens
    # Blocks: contiguous indexes from 0, in thinking, text, tool_use order; every delta and
    # stop belongs to the block that is open.
    blocks: list[tuple[str, list[dict]]] = []
    open_index = None
    for name, data in events:
        if name == "content_block_start":
            assert data["index"] == len(blocks) and open_index is None
            open_index = data["index"]
            blocks.append((data["content_block"]["type"], []))
        elif name == "content_block_delta":
            assert data["index"] == open_index
            blocks[-1][1].append(data["delta"])
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert [t for t, _ in blocks] == want_types
    words = 0
    for (kind, deltas), final_block in zip(blocks, body["content"], strict=True):
        types = [d["type"] for d in deltas]
        if kind == "text":
            assert types == ["text_delta"] * spec.deltas
            assert all(len(d["text"].split()) == spec.tokens_per_delta for d in deltas)
            text = "".join(d["text"] for d in deltas)
            assert text == final_block["text"]
            words += len(text.split())
        elif kind == "thinking":
            assert types == ["thinking_delta"] * spec.thinking_deltas + ["signature_delta"]
            assert all(len(d["thinking"].split()) == spec.tokens_per_delta for d in deltas[:-1])
            thinking = "".join(d["thinking"] for d in deltas[:-1])
            assert thinking == final_block["thinking"]
            assert deltas[-1]["signature"] and deltas[-1]["signature"] == final_block["signature"]
            words += len(thinking.split())
        else:
            assert types == ["input_json_delta"] * spec.tool_deltas
            tool_input = json.loads("".join(d["partial_json"] for d in deltas))
            assert isinstance(tool_input, dict) and tool_input == final_block["input"]
            words += len(tool_input["query"].split())
    expected = (spec.deltas + spec.thinking_deltas + spec.tool_deltas) * spec.tokens_per_delta
    assert words == expected
    assert final["usage"]["output_tokens"] == expected >= start["usage"]["output_tokens"]
    assert body["usage"] == final["usage"]  # streaming and non-streaming agree


@FAST
@given(cfg=STREAM_CFG, model=st.text(min_size=1, max_size=20),
       input_tokens=st.integers(1, 10**9))
def test_every_script_obeys_the_event_grammar(cfg, model, input_tokens):
    spec = parse_stream_spec(cfg)
    msg = build_message(spec, model, input_tokens)
    _check_grammar(spec, model, input_tokens, stream_script(msg), msg.body)


def _comparable(events: list[tuple[str, dict]]) -> list:
    """Events without the per-response random parts (ids, signature)."""
    out = []
    for name, data in events:
        if name == "message_start":
            data = {**data, "message": {**data["message"], "id": None}}
        elif name == "content_block_start" and "id" in data["content_block"]:
            data = {**data, "content_block": {**data["content_block"], "id": None}}
        elif name == "content_block_delta" and "signature" in data["delta"]:
            data = {**data, "delta": {**data["delta"], "signature": None}}
        out.append((name, data))
    return out


@WIRE
@given(cfg=STREAM_CFG.map(lambda c: {**c, "gap": 0, "ping_interval": None}),
       proto=st.sampled_from(["http/1.1", "h2c"]))
def test_the_served_stream_is_exactly_the_script(origin, cfg, proto):
    send = h1_request if proto == "http/1.1" else h2_request
    body = messages_body()
    r = send(origin.address, body=body, headers={"x-resetlab-stream": json.dumps(cfg)})
    assert r.status == 200 and r.end == "complete"
    events = r.events()
    spec = parse_stream_spec(cfg, StreamSpec(deltas=1))
    input_tokens = events[0][1]["message"]["usage"]["input_tokens"]
    msg = build_message(spec, "claude-test", input_tokens)
    assert _comparable(events) == _comparable(stream_script(msg))
    assert r.body == b"".join(encode_event(n, d) for n, d in events)  # byte-exact framing


# --- plans: valid ones round-trip ----------------------------------------------------------
# Strategies yield (raw JSON data, what the parser must normalize it to).

def _same(strategy):
    return strategy.map(lambda v: (v, v))


def _number(positive: bool):
    lo = 1e-9 if positive else 0.0
    return st.one_of(st.integers(1 if positive else 0, 10**12).map(lambda v: (v, float(v))),
                     st.floats(lo, 1e15).map(lambda v: (v, v)))


H2_CODES = st.one_of(
    st.sampled_from(sorted(h2.errors.ErrorCodes.__members__)).map(
        lambda n: (n, int(h2.errors.ErrorCodes[n]))),
    _same(st.integers(0, 0xFFFFFFFF)))
HEADER_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True)
HEADER_VALUE = st.one_of(st.text(max_size=20), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False))
HEADERS = st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=4,
                   unique_by=lambda kv: kv[0].lower()).map(
    lambda kvs: (dict(kvs), {k.lower(): str(v) for k, v in kvs}))
PARAM_KINDS = {
    "int": _same(st.integers(0, 2**63)),
    "number": _number(positive=True),
    "str": _same(st.text(min_size=1, max_size=30)),
    "bool": _same(st.booleans()),
    "status": _same(st.integers(400, 599)),
    "h2code": H2_CODES,
    "headers": HEADERS,
}


@st.composite
def action_pair(draw, name: str | None = None):
    name = name or draw(st.sampled_from(sorted(ACTIONS)))
    schema = ACTIONS[name].params_schema
    raw, norm = {}, {}
    for key, spec in schema.items():
        if spec.default is REQUIRED or draw(st.booleans()):
            raw[key], norm[key] = draw(PARAM_KINDS[spec.kind])
        elif spec.default is not None:
            norm[key] = spec.default
    if name == "stall":  # exactly one of seconds, forever (forever: false does not count)
        if draw(st.booleans()):
            raw.pop("forever", None), norm.pop("forever", None)
            raw["seconds"], norm["seconds"] = draw(_number(positive=True))
            if draw(st.booleans()):
                raw["forever"] = norm["forever"] = False
        else:
            raw.pop("seconds", None), norm.pop("seconds", None)
            raw["forever"] = norm["forever"] = True
    if not raw and draw(st.booleans()):
        raw = None  # {"tcp_rst": null} means {"tcp_rst": {}}
    return {name: raw}, {name: norm}


WHEN = st.fixed_dictionaries({}, optional={
    "phase": _same(st.sampled_from(PHASES)),
    "after_events": _same(st.integers(min_value=0)),
    "after_bytes": _same(st.integers(min_value=0)),
    "after_seconds": _number(positive=False),
    "body_bytes_over": _same(st.integers(min_value=0)),
    "body_bytes_times_seconds_over": _number(positive=False),
    "idle_seconds_over": _number(positive=False),
    "streaming": _same(st.booleans()),
}).map(lambda d: ({k: v[0] for k, v in d.items()}, {k: v[1] for k, v in d.items()}))
ATTEMPTS = st.lists(st.integers(1, 1000), min_size=1, max_size=5)


@st.composite
def rule_pair(draw):
    raw, norm = {}, {}
    when_raw, when_norm = draw(WHEN)
    if when_raw or draw(st.booleans()):
        raw["when"] = when_raw
    norm["when"] = when_norm
    raw["do"], norm["do"] = draw(action_pair())
    attempts = draw(st.one_of(st.none(), ATTEMPTS))
    if attempts is not None:
        raw["attempts"] = attempts
        norm["attempts"] = sorted(set(attempts))
    elif draw(st.booleans()):
        raw["attempts"] = None  # null = every attempt, like a missing key
    return raw, norm


PLANS = st.lists(rule_pair(), max_size=5).map(
    lambda rules: ([r for r, _ in rules], [n for _, n in rules]))


def _canon(data) -> str:
    return json.dumps(data, sort_keys=True)


@FAST
@given(PLANS)
def test_valid_plans_round_trip(pair):
    raw, normalized = pair
    plan = parse_plan(json.dumps(raw))  # as typed on a command line / in a header
    assert parse_plan(raw) == plan  # already-decoded data parses the same
    out = plan_to_json(plan)
    assert _canon(out) == _canon(normalized)  # types too: 1 vs 1.0 shows in the JSON text
    again = parse_plan(json.dumps(out))
    assert again == plan and [r.index for r in again] == list(range(len(raw)))
    assert _canon(plan_to_json(again)) == _canon(out)


def test_plan_equality_sees_action_parameters():
    a = parse_plan([{"do": {"h2_rst_stream": {"code": 2}}}])
    assert a == parse_plan([{"do": {"h2_rst_stream": {"code": "INTERNAL_ERROR"}}}])
    assert a != parse_plan([{"do": {"h2_rst_stream": {"code": 7}}}])
    assert a != parse_plan([{"do": {"h2_goaway": {"code": 2}}}])
    assert len({a[0], parse_plan([{"do": {"h2_rst_stream": {}}}])[0]}) == 1  # hashable, equal


# --- plans: one mutation of a valid plan is one error line --------------------------------

WHEN_KINDS = {"phase": "phase", "after_events": "int", "after_bytes": "int",
              "body_bytes_over": "int", "after_seconds": "number",
              "body_bytes_times_seconds_over": "number", "idle_seconds_over": "number",
              "streaming": "bool"}
NOT_A = {  # values of the wrong JSON type for each kind of field
    "int": st.one_of(st.text(max_size=5), st.booleans(), st.none(), st.just([1]),
                     st.floats(allow_nan=False, allow_infinity=False).filter(
                         lambda f: not f.is_integer())),
    "number": st.one_of(st.text(max_size=5), st.booleans(), st.none(), st.just({}),
                        st.just([0.5])),
    "bool": st.one_of(st.integers(0, 1), st.text(max_size=5), st.none(), st.just([])),
    "phase": st.one_of(st.integers(), st.booleans(), st.none(), st.just(["stream"])),
}
NOT_POSITIVE = st.one_of(st.sampled_from([0, 0.0, -0.0, -1]), st.integers(max_value=0),
                         st.floats(max_value=0, allow_infinity=False))
IDENT = st.from_regex(r"[a-z_]{1,20}", fullmatch=True)
BAD_ATTEMPTS = st.one_of(
    st.just([]), st.integers(1, 5), st.text(max_size=3), st.just({"1": 1}),
    st.lists(st.integers(1, 9), max_size=3).flatmap(lambda ok: st.tuples(
        st.just(ok), st.one_of(st.integers(max_value=0), st.text(max_size=3), st.booleans(),
                               st.floats(1.1, 9.9), st.none())).map(
        lambda t: (t[0] + [t[1]], len(t[0])))))


@st.composite
def mutated_plan(draw):
    """(plan, rule index, the exact field path the error must start with)."""
    rules = [r for r, _ in draw(st.lists(rule_pair(), min_size=1, max_size=4))]
    i = draw(st.integers(0, len(rules) - 1))
    rule = dict(rules[i])
    rule["when"] = dict(rule.get("when") or {})
    at = f"plan[{i}]"
    kind = draw(st.sampled_from(["unknown_condition", "unknown_rule_key", "unknown_param",
                                 "unknown_action", "two_actions", "wrong_type",
                                 "wrong_container", "negative", "negative_param",
                                 "not_finite", "bad_phase",
                                 "bad_attempts"]))
    if kind == "unknown_condition":
        key = draw(IDENT.filter(lambda k: k not in WHEN_KINDS))
        rule["when"][key] = draw(st.integers())
        path = f"{at}.when.{key}"
    elif kind == "unknown_rule_key":
        key = draw(IDENT.filter(lambda k: k not in ("when", "do", "attempts")))
        rule[key] = {}
        path = f"{at}.{key}"
    elif kind == "unknown_param":
        (name, params), = rule["do"].items()
        key = draw(IDENT.filter(lambda k: k not in ACTIONS[name].params_schema))
        rule["do"] = {name: {**(params or {}), key: 1}}
        path = f"{at}.do.{name}.{key}"
    elif kind == "unknown_action":
        name = draw(st.text(min_size=1, max_size=12).filter(lambda n: n not in ACTIONS))
        rule["do"] = {name: {}}
        path = f"{at}.do"
    elif kind == "two_actions":
        a, b = draw(st.lists(st.sampled_from(sorted(ACTIONS)), min_size=2, max_size=2,
                             unique=True))
        rule["do"] = {**draw(action_pair(a))[0], **draw(action_pair(b))[0]}
        path = f"{at}.do"
    elif kind == "wrong_type":
        key = draw(st.sampled_from(sorted(WHEN_KINDS)))
        rule["when"][key] = draw(NOT_A[WHEN_KINDS[key]])
        path = f"{at}.when.{key}"
    elif kind == "wrong_container":
        field = draw(st.sampled_from(["rule", "when", "do"]))
        bad = draw(st.one_of(st.integers(), st.text(max_size=5), st.just([]), st.none()))
        if field == "rule":
            rules[i] = bad
            return rules, i, at
        if field == "when" and bad is None:
            bad = []  # a missing "when" is fine; an explicit null is not, and neither is []
        rule[field] = bad
        path = f"{at}.{field}"
    elif kind == "negative_param":  # an action parameter out of its range
        name, key, value = draw(st.one_of(
            st.tuples(st.just("h2_goaway"), st.just("last_stream_id"), st.integers(max_value=-1)),
            st.tuples(st.sampled_from(["h2_goaway", "h2_rst_stream"]), st.just("code"),
                      st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32))),
            st.tuples(st.just("stall"), st.just("seconds"), NOT_POSITIVE),
            st.tuples(st.just("drip"), st.just("bytes_per_second"), NOT_POSITIVE),
            st.tuples(st.just("http_status"), st.just("status"),
                      st.one_of(st.integers(max_value=399), st.integers(min_value=600)))))
        rule["do"] = {name: {key: value}}
        path = f"{at}.do.{name}.{key}"
    elif kind == "negative":
        key, value = draw(st.one_of(
            st.tuples(st.sampled_from(["after_events", "after_bytes", "body_bytes_over"]),
                      st.integers(max_value=-1)),
            st.tuples(st.sampled_from(["after_seconds", "idle_seconds_over",
                                       "body_bytes_times_seconds_over"]),
                      st.one_of(st.integers(max_value=-1),
                                st.floats(max_value=-1e-9, allow_infinity=False)))))
        rule["when"][key] = value
        path = f"{at}.when.{key}"
    elif kind == "not_finite":
        key = draw(st.sampled_from(["after_seconds", "idle_seconds_over",
                                    "body_bytes_times_seconds_over"]))
        rule["when"][key] = draw(st.sampled_from([float("inf"), float("-inf"), float("nan"),
                                                  10**400, -(10**400)]))
        path = f"{at}.when.{key}"
    elif kind == "bad_phase":
        rule["when"]["phase"] = draw(st.text(max_size=25).filter(lambda p: p not in PHASES))
        path = f"{at}.when.phase"
    else:
        bad = draw(BAD_ATTEMPTS)
        if isinstance(bad, tuple):
            rule["attempts"], k = bad
            path = f"{at}.attempts[{k}]"
        else:
            rule["attempts"] = bad
            path = f"{at}.attempts"
    rules[i] = rule
    return rules, i, path


_OK = {"do": {"fin": {}}}
# One fixed case per kind of mutation, so each is tried on every run whatever the seed.
MUTATION_EXAMPLES = [
    ([_OK, {"when": {"after_evnts": 1}, "do": {"fin": {}}}], 1, "plan[1].when.after_evnts"),
    ([{"do": {"fin": {}}, "attempt": [1]}], 0, "plan[0].attempt"),
    ([{"do": {"stall": {"seconds": 1, "for": 2}}}], 0, "plan[0].do.stall.for"),
    ([_OK, _OK, {"do": {"tcp_reset": {}}}], 2, "plan[2].do"),
    ([{"do": {"tcp_rst": {}, "fin": {}}}], 0, "plan[0].do"),
    ([{"when": {"after_seconds": "5"}, "do": {"fin": {}}}], 0, "plan[0].when.after_seconds"),
    ([{"when": {"streaming": 1}, "do": {"fin": {}}}], 0, "plan[0].when.streaming"),
    ([_OK, {"when": [], "do": {"fin": {}}}], 1, "plan[1].when"),
    ([{"when": {"after_bytes": -1}, "do": {"fin": {}}}], 0, "plan[0].when.after_bytes"),
    ([{"do": {"h2_goaway": {"last_stream_id": -1}}}], 0, "plan[0].do.h2_goaway.last_stream_id"),
    ([{"do": {"drip": {"bytes_per_second": 0}}}], 0, "plan[0].do.drip.bytes_per_second"),
    ([{"do": {"stall": {"seconds": 0}}}], 0, "plan[0].do.stall.seconds"),
    ([{"when": {"idle_seconds_over": 10**400}, "do": {"fin": {}}}], 0,
     "plan[0].when.idle_seconds_over"),
    ([{"when": {"phase": "Stream"}, "do": {"fin": {}}}], 0, "plan[0].when.phase"),
    ([_OK, {"do": {"fin": {}}, "attempts": [1, 0]}], 1, "plan[1].attempts[1]"),
    ([{"do": {"fin": {}}, "attempts": 1}], 0, "plan[0].attempts"),
]


def _with_examples(cases):
    def apply(test):
        for case in reversed(cases):
            test = example(case)(test)
        return test
    return apply


@settings(max_examples=300, deadline=None)
@given(mutated_plan())
@_with_examples(MUTATION_EXAMPLES)
def test_one_mutation_gives_one_error_line_naming_rule_and_field(case):
    plan, _, path = case
    text = json.dumps(plan)  # NaN / Infinity as Python's json writes them
    with pytest.raises(SpecError) as info:
        parse_plan(text)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(path + ": "), (path, message)
    assert "(allowed: " in message
    with pytest.raises(SpecError) as again:  # the same from decoded data
        parse_plan(json.loads(text))
    assert str(again.value) == message


def _origin_cli(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    origin_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["origin", *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = origin_cli.run(args)
    return status, out.getvalue(), err.getvalue()


@settings(max_examples=60, deadline=None)
@given(mutated_plan())
def test_the_cli_prints_that_one_line_and_exits_2(case):
    plan, _, path = case
    status, out, err = _origin_cli(["--plan", json.dumps(plan)])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith("resetlab origin: error: --plan" + path[len("plan"):] + ": "), err


def test_json_too_big_to_read_is_still_one_line():
    huge = "1" * 5000  # over Python's int-to-str digit limit: json.loads raises ValueError
    with pytest.raises(SpecError) as info:
        parse_plan('[{"when": {"after_events": ' + huge + '}, "do": {"fin": {}}}]')
    assert str(info.value).startswith("plan: not valid JSON") and "\n" not in str(info.value)
