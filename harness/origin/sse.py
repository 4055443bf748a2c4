"""The Messages API response, built once and rendered two ways.

``build_message`` makes the final message (what a non-streaming request gets);
``stream_script`` renders the same message as the SSE event sequence of the real API:

    message_start (empty content, usage)
    content_block_start  [ping after the FIRST content_block_start]
    content_block_delta*  (thinking_delta + one signature_delta | text_delta | input_json_delta)
    content_block_stop
    ... one group per block: thinking (index 0), text, tool_use ...
    message_delta (stop_reason, cumulative usage)
    message_stop

Keep-alive pings during silence are not part of the script; the injector adds them.
``StreamSpec`` says how long the response is and how it is paced.

Stream config JSON (``--stream`` on the CLI, header ``x-resetlab-stream`` per request;
the header's keys override the server's; all durations are seconds):

    deltas             int >= 0   text_delta events (no text block when 0)        [20]
    tokens_per_delta   int >= 1   words per delta; output_tokens = total words    [1]
    thinking_deltas    int >= 0   thinking_delta events (adds a thinking block)   [0]
    tool_deltas        int >= 0   input_json_delta events (adds a tool_use block) [0]
    gap                number     silence between consecutive scripted events     [0]
    duration           number     spread the script over this many seconds
                                  (overrides gap: gap = duration / (events - 1))  [null]
    gaps               [number]   gaps[k] = silence after scripted event k+1
                                  (overrides gap/duration for those positions)    [[]]
    idle               [{"after_event": N, "seconds": S}]  extra silence after the
                                  N-th scripted event (adds to the gap there)     [[]]
    headers_delay      number     wait before the response headers               [0]
    headers_delay_per_mb  number  plus this much per MB (1e6 bytes) of request body:
                                  prefill time that grows with the context       [0]
    first_event_delay  number     wait between headers and message_start         [0]
    ping_interval      number|null  ping after this much silence; null/0 = never  [30]
    stop_reason        string     override (default end_turn, tool_use with a tool block)
    tokens_per_second  number|null  a model that writes its whole max_tokens: a request
                                  WITHOUT x-resetlab-stream streams max_tokens tokens
                                  (deltas = max_tokens / tokens_per_delta) over
                                  max_tokens / tokens_per_second seconds; external
                                  clients vary the stream length through max_tokens [null]

"Scripted events" are every event above, the first ping included; they are what plan
conditions ``after_events`` count. A non-streaming response waits headers_delay plus the
whole script's gaps before its headers (the time the model would have taken).
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness.units import scaled, unit

from .validate import (
    SpecError,
    check_int,
    check_number,
    check_object,
    check_str,
    fail,
    load_json,
)

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
TOOL_NAME = "resetlab_probe"


@dataclass(frozen=True)
class StreamSpec:
    deltas: int = 20
    tokens_per_delta: int = 1
    thinking_deltas: int = 0
    tool_deltas: int = 0
    gap: float = field(default=0.0, metadata=unit("s"))
    duration: float | None = field(default=None, metadata=unit("s"))
    gaps: tuple[float, ...] = field(default=(), metadata=unit("s"))
    idle: tuple[tuple[int, float], ...] = field(default=(), metadata=unit("s"))  # (after_event, seconds)
    headers_delay: float = field(default=0.0, metadata=unit("s"))
    headers_delay_per_mb: float = field(default=0.0, metadata=unit("s/MB"))
    first_event_delay: float = field(default=0.0, metadata=unit("s"))
    ping_interval: float | None = field(default=30.0, metadata=unit("s"))
    stop_reason: str | None = None
    tokens_per_second: float | None = field(default=None, metadata=unit("1/s"))  # a rate: lab = field / time_scale

    def for_max_tokens(self, max_tokens: object) -> StreamSpec:
        """The stream a request asking for max_tokens gets (see tokens_per_second)."""
        if not self.tokens_per_second or isinstance(max_tokens, bool) or not isinstance(max_tokens, int) \
                or max_tokens < 1:
            return self
        deltas = min(1_000_000, max(1, -(-max_tokens // self.tokens_per_delta)))
        return replace(self, deltas=deltas, duration=max_tokens / self.tokens_per_second)

    def scaled(self, time_scale: float) -> StreamSpec:
        """Every duration times time_scale (event counts unchanged; harness/units.py)."""
        return scaled(self, time_scale, idle=tuple((n, sec * time_scale) for n, sec in self.idle))

    def to_json(self) -> dict:
        out = asdict(self)
        out["gaps"] = list(self.gaps)
        out["idle"] = [{"after_event": n, "seconds": s} for n, s in self.idle]
        return out

    def gap_before(self, index: int, n_events: int) -> float:
        """Silence before scripted event ``index`` (0-based) of a script of n_events."""
        if index == 0:
            return self.first_event_delay
        after = index  # event `index` follows the index-th (1-based) event
        if after - 1 < len(self.gaps):
            base = self.gaps[after - 1]
        elif self.duration is not None:
            base = self.duration / max(1, n_events - 1)
        else:
            base = self.gap
        return base + sum(s for n, s in self.idle if n == after)

    def time_to_headers(self, body_bytes: int) -> float:
        return self.headers_delay + self.headers_delay_per_mb * body_bytes / 1e6

    def total_time(self, n_events: int) -> float:
        """How long the whole script takes (used as 'generation time' when not streaming)."""
        return sum(self.gap_before(i, n_events) for i in range(n_events))


_FIELDS = {
    "deltas", "tokens_per_delta", "thinking_deltas", "tool_deltas", "gap", "duration",
    "gaps", "idle", "headers_delay", "headers_delay_per_mb", "first_event_delay", "ping_interval",
    "stop_reason", "tokens_per_second",
}


def parse_stream_spec(value: Any, base: StreamSpec | None = None, where: str = "stream") -> StreamSpec:
    """Validate a stream config (dict or JSON text) and merge it over ``base``."""
    if isinstance(value, str):
        value = load_json(value, where)
    check_object(where, value, _FIELDS)
    base = base or StreamSpec()
    out: dict[str, Any] = {}
    for key, val in value.items():
        path = f"{where}.{key}"
        if key in ("deltas", "thinking_deltas", "tool_deltas"):
            out[key] = check_int(path, val, lo=0, hi=1_000_000)
        elif key == "tokens_per_delta":
            out[key] = check_int(path, val, lo=1, hi=100_000)
        elif key in ("gap", "headers_delay", "headers_delay_per_mb", "first_event_delay"):
            out[key] = check_number(path, val)
        elif key == "duration":
            out[key] = None if val is None else check_number(path, val)
        elif key in ("ping_interval", "tokens_per_second"):
            out[key] = None if val in (None, 0) else check_number(path, val, positive=True)
        elif key == "stop_reason":
            out[key] = None if val is None else check_str(path, val)
        elif key == "gaps":
            if not isinstance(val, list):
                raise fail(path, val, "is not a list", "a list of numbers >= 0")
            out[key] = tuple(check_number(f"{path}[{i}]", g) for i, g in enumerate(val))
        elif key == "idle":
            out[key] = _parse_idle(path, val)
    return replace(base, **out)


def scale_stream_config(value: Any, time_scale: float, where: str = "stream") -> dict:
    """A stream config (dict: only the keys given, as for the x-resetlab-stream header)
    validated and with its durations times time_scale. Raises SpecError."""
    if isinstance(value, str):
        value = load_json(value, where)
    full = parse_stream_spec(value, where=where).scaled(time_scale).to_json()
    return {key: full[key] for key in value}


def _parse_idle(path: str, val: Any) -> tuple[tuple[int, float], ...]:
    if not isinstance(val, list):
        raise fail(path, val, "is not a list", 'a list of {"after_event": N, "seconds": S}')
    items = []
    for i, item in enumerate(val):
        p = f"{path}[{i}]"
        check_object(p, item, ("after_event", "seconds"))
        if set(item) != {"after_event", "seconds"}:
            raise fail(p, item, "must have both keys", '{"after_event": N, "seconds": S}')
        items.append((check_int(f"{p}.after_event", item["after_event"], lo=1),
                      check_number(f"{p}.seconds", item["seconds"])))
    return tuple(items)


# --- the message --------------------------------------------------------------------------

def random_id(prefix: str, n: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def _words(n_deltas: int, per: int, offset: int = 0) -> list[str]:
    """Delta texts: each has `per` words, each word counted as one output token."""
    out = []
    for d in range(n_deltas):
        k = offset + d * per
        out.append("".join(" " + WORDS[(k + j) % len(WORDS)] for j in range(per)))
    return out


def _split(text: str, parts: int) -> list[str]:
    """Cut text into `parts` consecutive pieces (the first may be empty, like the API's)."""
    size, rest = divmod(len(text), parts)
    pieces, pos = [], 0
    for i in range(parts):
        n = size + (1 if i < rest else 0)
        pieces.append(text[pos:pos + n])
        pos += n
    return pieces


@dataclass
class Message:
    """The final message plus the per-block delta pieces the stream will carry."""

    body: dict
    pieces: list[list[dict]]  # for each content block, its delta objects in order


def estimate_input_tokens(body_bytes: int) -> int:
    return max(1, body_bytes // 4)  # about 4 bytes per token for English text/JSON


def build_message(spec: StreamSpec, model: str, input_tokens: int) -> Message:
    blocks: list[dict] = []
    pieces: list[list[dict]] = []
    tokens = 0
    if spec.thinking_deltas:
        texts = _words(spec.thinking_deltas, spec.tokens_per_delta)
        tokens += spec.thinking_deltas * spec.tokens_per_delta
        signature = random_id("Er", 64)
        blocks.append({"type": "thinking", "thinking": "".join(texts), "signature": signature})
        deltas = [{"type": "thinking_delta", "thinking": t} for t in texts]
        deltas.append({"type": "signature_delta", "signature": signature})
        pieces.append(deltas)
    if spec.deltas:
        texts = _words(spec.deltas, spec.tokens_per_delta, offset=tokens)
        tokens += spec.deltas * spec.tokens_per_delta
        blocks.append({"type": "text", "text": "".join(texts)})
        pieces.append([{"type": "text_delta", "text": t} for t in texts])
    if spec.tool_deltas:
        words = _words(spec.tool_deltas, spec.tokens_per_delta, offset=tokens)
        tokens += spec.tool_deltas * spec.tokens_per_delta
        tool_input = {"query": "".join(words).strip()}
        blocks.append({"type": "tool_use", "id": random_id("toolu_01"), "name": TOOL_NAME,
                       "input": tool_input})
        raw = json.dumps(tool_input)
        pieces.append([{"type": "input_json_delta", "partial_json": p}
                       for p in _split(raw, spec.tool_deltas)])
    stop = spec.stop_reason or ("tool_use" if spec.tool_deltas else "end_turn")
    body = {
        "id": random_id("msg_01"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(input_tokens, max(tokens, 1)),
    }
    return Message(body=body, pieces=pieces)


def _usage(input_tokens: int, output_tokens: int) -> dict:
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": output_tokens}


def _empty_block(block: dict) -> dict:
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if block["type"] == "text":
        return {"type": "text", "text": ""}
    return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}


def stream_script(msg: Message) -> list[tuple[str, dict]]:
    """The scripted SSE events (name, data) for a message, in wire order."""
    body = msg.body
    start = dict(body, content=[], stop_reason=None, stop_sequence=None,
                 usage=_usage(body["usage"]["input_tokens"], 1))
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": start})]
    for index, (block, deltas) in enumerate(zip(body["content"], msg.pieces, strict=True)):
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                "content_block": _empty_block(block)}))
        if index == 0:  # the docs' example, and the observed API, ping here
            events.append(("ping", {"type": "ping"}))
        for delta in deltas:
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if not body["content"]:
        events.append(("ping", {"type": "ping"}))
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None},
        "usage": body["usage"],  # cumulative, as the API reports it
    }))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps(..., separators) builds one per call


def encode_event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {_COMPACT.encode(data)}\n\n".encode()


PING = encode_event("ping", {"type": "ping"})

__all__ = ["StreamSpec", "SpecError", "parse_stream_spec", "build_message", "stream_script",
           "encode_event", "estimate_input_tokens", "Message", "PING", "random_id"]
