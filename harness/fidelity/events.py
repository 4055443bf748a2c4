"""The wire events of the fidelity matrix: every way the lab's origin, edges, NAT and outages
end (or stall) a request, each as a per-request fault plan (`x-resetlab-plan`, see
harness/origin/plan.py) or a small world plus a trigger.

The stream is short and paced (5 text deltas, 20 ms apart: scripted events 1 message_start,
2 content_block_start, 3 ping, 4-8 deltas, 9 content_block_stop, 10 message_delta,
11 message_stop), so "after 4 events" lands inside the text block and "after 9" right
after it closed: Claude Code treats the two differently (its silent non-streaming fallback).
"""

from __future__ import annotations

from dataclasses import dataclass, field

STREAM = {"deltas": 5, "gap": 0.02}
LONG_STREAM = {"deltas": 40, "gap": 0.1}  # ~4 s: long enough to be cut by an outage
SMALL, LARGE = 4_000, 8_000_000
OUTAGE_S = 5.0  # longer than every client's watchdog in these cells (WATCHDOG)
NAT_TIMEOUT_S = 1.0  # the NAT world's established timeout (real seconds)
EDGE_BUDGET_S = 1.0  # the edge worlds' budgets (real seconds), well inside the clients' watchdogs
THINK_S = 2.5  # idle of a pooled connection before its reuse: past the NAT timeout, inside
# the clients' own pool limits (undici ~4 s, httpx 5 s)


def _at(when: dict, do: dict) -> tuple[dict, ...]:
    return ({"when": when, "do": do},)


PRE = {"phase": "before_response_headers"}


def _status(status: int, etype: str) -> tuple[dict, ...]:
    return _at(PRE, {"http_status": {"status": status, "type": etype}})


@dataclass(frozen=True)
class Event:
    name: str
    what: str  # one line for the table
    plan: tuple[dict, ...] = ()
    size: int = SMALL
    stream: dict = field(default_factory=lambda: dict(STREAM))
    h2: bool = False  # an HTTP/2 event: h2c clients only
    watchdog: bool = False  # the client's own timers are short (WATCHDOG) for this event
    world: str = "origin"  # harness.fidelity.cell.WORLDS
    outage: str | None = None  # down | blackhole: the access link, once the stream flows
    think: float | None = None  # the probe reuses a pooled connection idle this long


EVENTS: tuple[Event, ...] = (
    Event("rst_upload_small", "RST before headers, while a 4 KB body uploads",
          _at({"phase": "request_headers"}, {"tcp_rst": {}})),
    Event("rst_upload_8mb", "RST before headers, 1 MB into an 8 MB upload",
          _at({"phase": "request_body", "body_bytes_over": 1_000_000}, {"tcp_rst": {}}), size=LARGE),
    Event("rst_after_upload", "RST before headers, body fully read", _at(PRE, {"tcp_rst": {}})),
    Event("fin_before_headers", "FIN before headers, body fully read", _at(PRE, {"fin": {}})),
    Event("http_413", "413 request_too_large with headers", _status(413, "request_too_large")),
    Event("http_429", "429 rate_limit_error with headers", _status(429, "rate_limit_error")),
    Event("http_529", "529 overloaded_error with headers", _status(529, "overloaded_error")),
    Event("http_500", "500 api_error with headers", _status(500, "api_error")),
    Event("rst_mid_block", "RST mid-stream, inside the text block (after 4 events)",
          _at({"after_events": 4}, {"tcp_rst": {}})),
    Event("rst_after_block", "RST mid-stream, right after content_block_stop (after 9 events)",
          _at({"after_events": 9}, {"tcp_rst": {}})),
    Event("fin_mid_stream_clean", "FIN mid-stream at an event boundary (after 9 events)",
          _at({"after_events": 9}, {"fin": {}})),
    Event("fin_mid_stream_torn", "FIN mid-stream cutting an event (after 700 body bytes)",
          _at({"after_bytes": 700}, {"fin": {}})),
    Event("sse_error", "`event: error` overloaded_error after a block, then a clean end",
          _at({"after_events": 9}, {"sse_error": {"type": "overloaded_error"}})),
    Event("silence_headers", "silence before headers until the client's watchdog",
          _at(PRE, {"stall": {"forever": True}}), watchdog=True),
    Event("silence_mid_stream", "silence mid-stream until the client's watchdog",
          _at({"after_events": 4}, {"stall": {"forever": True}}), watchdog=True),
    Event("rst_stream_2", "h2c RST_STREAM(INTERNAL_ERROR=2) mid-stream (the built-in edge, nginx)",
          _at({"after_events": 4}, {"h2_rst_stream": {"code": 2}}), h2=True),
    Event("rst_stream_7", "h2c RST_STREAM(REFUSED_STREAM=7) before headers (an overloaded edge)",
          _at(PRE, {"h2_rst_stream": {"code": 7}}), h2=True),
    Event("rst_stream_8", "h2c RST_STREAM(CANCEL=8) mid-stream",
          _at({"after_events": 4}, {"h2_rst_stream": {"code": 8}}), h2=True),
    Event("goaway_0", "h2c GOAWAY(NO_ERROR, last_stream_id 0) mid-stream (a draining edge)",
          _at({"after_events": 4}, {"h2_goaway": {"code": 0, "last_stream_id": 0}}), h2=True),
    Event("goaway_2", "h2c GOAWAY(INTERNAL_ERROR) mid-stream",
          _at({"after_events": 4}, {"h2_goaway": {"code": 2}}), h2=True),
    Event("edge_first_byte_rst", f"the edge's first-byte budget ({EDGE_BUDGET_S:g} s) trips: RST from the edge",
          _at(PRE, {"stall": {"forever": True}}), world="edge-first-byte-rst"),
    Event("edge_first_byte_524", f"the edge's first-byte budget ({EDGE_BUDGET_S:g} s) trips: 524 with headers",
          _at(PRE, {"stall": {"forever": True}}), world="edge-first-byte-524"),
    Event("edge_idle_rst", f"the edge's idle budget ({EDGE_BUDGET_S:g} s) trips mid-stream: RST from the edge",
          _at({"after_events": 4}, {"stall": {"forever": True}}), world="edge-idle-rst"),
    Event("haproxy_h2c_idle", f"haproxy's idle timeout ({EDGE_BUDGET_S:g} s) mid-stream, h2c: END_STREAM, "
          "a silent truncation", _at({"after_events": 4}, {"stall": {"forever": True}}), h2=True,
          world="haproxy-h2c-idle"),
    Event("outage_down", f"access link down {OUTAGE_S:g} s mid-stream", stream=dict(LONG_STREAM),
          watchdog=True, outage="down"),
    Event("outage_blackhole", f"access link blackholed {OUTAGE_S:g} s mid-stream", stream=dict(LONG_STREAM),
          watchdog=True, outage="blackhole"),
    Event("nat_silence", f"NAT forgets a stream silent > {NAT_TIMEOUT_S:g} s; the origin sends next",
          stream={"deltas": 5, "gap": 0.02, "idle": [{"after_event": 4, "seconds": 1.6}]},
          watchdog=True, world="nat"),
    Event("nat_reuse", f"NAT forgets a pooled connection idle {THINK_S:g} s; the client sends next",
          world="nat", think=THINK_S),
)
BY_NAME = {e.name: e for e in EVENTS}
# the quick subset run by the normal suite: one of each family, cheap clients
QUICK = ("rst_upload_8mb", "rst_after_block", "fin_mid_stream_torn", "http_529", "rst_stream_2")
