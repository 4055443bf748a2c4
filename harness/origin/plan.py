"""Fault plans: data that says which fault to inject into which request, and when.

A plan is a JSON list of rules::

    [{"when": {...}, "do": {"<action>": {...params}}, "attempts": [1, 2]}]

``when`` (all given conditions must hold; ``{}`` or missing = at the first checkpoint):

    phase                          request_headers | request_body | before_response_headers | stream
                                   (missing = any phase). request_headers: headers parsed, body
                                   not read; request_body: after each body chunk (and while the
                                   upload is slow); before_response_headers: body read, response
                                   not started (includes headers_delay / generation time);
                                   stream: headers sent, body (SSE events, or the JSON message
                                   of a non-streaming request) going out
    after_events                   >= N scripted SSE events sent (see sse.py)
    after_bytes                    >= N response-body bytes sent (cuts an event mid-way if needed)
    after_seconds                  >= S seconds since the request headers arrived
    body_bytes_over                request-body bytes received so far > N
    body_bytes_times_seconds_over  request-body bytes x seconds since request headers > X
    idle_seconds_over              no byte moved either way on this request for > S seconds
    streaming                      the request asked for "stream": true / false

``do``: exactly one action from actions.ACTIONS (tcp_rst, fin, h2_rst_stream, h2_goaway,
stall, sse_error, http_status, drip). ``attempts``: 1-based attempt numbers the rule applies
to (see attempts.py); missing = every attempt. Each rule fires at most once per request.
Rules whose action does not apply (h2_* on HTTP/1.1, http_status after headers, sse_error on
a non-stream response) are not fired; the request log lists them under "not_applicable".

Plans apply to ``POST /v1/messages`` only (HEAD /, count_tokens and errors are never faulted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from harness.units import scaled, unit

from .actions import ACTIONS, Action
from .validate import (
    SpecError,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_object,
    fail,
    load_json,
)

PHASES = ("request_headers", "request_body", "before_response_headers", "stream")
EPS = 1e-6  # "over" conditions are strict: become true just after the threshold


class Progress(Protocol):
    """What conditions are evaluated against (the Injector implements this)."""

    phase: str
    events: int
    bytes_sent: int
    body_bytes: int
    t0: float
    last_activity: float
    streaming: bool | None


@dataclass(frozen=True)
class When:
    phase: str | None = None
    after_events: int | None = None
    after_bytes: int | None = None
    after_seconds: float | None = field(default=None, metadata=unit("s"))
    body_bytes_over: int | None = None
    body_bytes_times_seconds_over: float | None = field(default=None, metadata=unit("B*s"))
    idle_seconds_over: float | None = field(default=None, metadata=unit("s"))
    streaming: bool | None = None

    def scaled(self, time_scale: float) -> When:
        return scaled(self, time_scale)

    def ready_at(self, p: Progress) -> float:
        """Earliest (trio clock) time at which every condition holds, given the progress so far.

        ``inf`` when a count/phase condition does not hold yet (only more progress can
        change that, and progress is followed by a checkpoint anyway); ``-inf`` when there
        are no time conditions. A rule holds iff ``ready_at(p) <= now``; the same number
        is the injector's wake-up deadline, so firing and waking can never disagree.
        """
        if self.phase is not None and self.phase != p.phase:
            return math.inf
        if self.after_events is not None and p.events < self.after_events:
            return math.inf
        if self.after_bytes is not None and p.bytes_sent < self.after_bytes:
            return math.inf
        if self.body_bytes_over is not None and not p.body_bytes > self.body_bytes_over:
            return math.inf
        if self.streaming is not None and p.streaming is not self.streaming:
            return math.inf
        at = -math.inf
        if self.after_seconds is not None:
            at = max(at, p.t0 + self.after_seconds)
        if self.idle_seconds_over is not None:
            at = max(at, p.last_activity + self.idle_seconds_over + EPS)
        if self.body_bytes_times_seconds_over is not None:
            if p.body_bytes <= 0:
                return math.inf
            at = max(at, p.t0 + self.body_bytes_times_seconds_over / p.body_bytes + EPS)
        return at

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Rule:
    index: int
    when: When
    action: Action
    attempts: frozenset[int] | None = None

    def scaled(self, time_scale: float) -> Rule:
        return replace(self, when=self.when.scaled(time_scale), action=self.action.scaled(time_scale))

    def to_json(self) -> dict:
        out: dict[str, Any] = {"when": self.when.to_json(), "do": self.action.to_json()}
        if self.attempts is not None:
            out["attempts"] = sorted(self.attempts)
        return out


Plan = tuple[Rule, ...]

_WHEN_KEYS = ("phase", "after_events", "after_bytes", "after_seconds", "body_bytes_over",
              "body_bytes_times_seconds_over", "idle_seconds_over", "streaming")


def parse_plan(value: Any, where: str = "plan") -> Plan:
    """Validate a plan given as JSON text or already-decoded data. Raises SpecError."""
    if isinstance(value, str | bytes):
        value = load_json(value if isinstance(value, str) else value.decode(), where)
    if not isinstance(value, list):
        raise fail(where, value, "is not a list of rules", '[{"when": {...}, "do": {...}}]')
    return tuple(_parse_rule(f"{where}[{i}]", i, raw) for i, raw in enumerate(value))


def _parse_rule(path: str, index: int, raw: Any) -> Rule:
    check_object(path, raw, ("when", "do", "attempts"))
    if "do" not in raw:
        raise SpecError(f"{path}.do: missing (allowed: one of {', '.join(sorted(ACTIONS))})")
    return Rule(index=index, when=_parse_when(f"{path}.when", raw.get("when", {})),
                action=_parse_do(f"{path}.do", raw["do"]),
                attempts=_parse_attempts(f"{path}.attempts", raw.get("attempts")))


def _parse_when(path: str, raw: Any) -> When:
    check_object(path, raw, _WHEN_KEYS)
    out: dict[str, Any] = {}
    for key, val in raw.items():
        p = f"{path}.{key}"
        if key == "phase":
            out[key] = check_choice(p, val, PHASES)
        elif key in ("after_events", "after_bytes", "body_bytes_over"):
            out[key] = check_int(p, val, lo=0)
        elif key == "streaming":
            out[key] = check_bool(p, val)
        else:
            out[key] = check_number(p, val)
    return When(**out)


def _parse_do(path: str, raw: Any) -> Action:
    allowed = ", ".join(sorted(ACTIONS))
    if not isinstance(raw, dict) or len(raw) != 1:
        raise fail(path, raw, "must be an object with exactly one action", allowed)
    (name, params), = raw.items()
    if name not in ACTIONS:
        raise fail(path, raw, f"names unknown action {name!r}", allowed)
    return ACTIONS[name].parse(f"{path}.{name}", params)


def _parse_attempts(path: str, raw: Any) -> frozenset[int] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise fail(path, raw, "is not a non-empty list", "a list of attempt numbers >= 1")
    return frozenset(check_int(f"{path}[{i}]", n, lo=1) for i, n in enumerate(raw))


def scale_plan(plan: Plan, time_scale: float) -> Plan:
    """Every duration of every rule times time_scale (see harness/units.py)."""
    return tuple(rule.scaled(time_scale) for rule in plan)


def plan_to_json(plan: Plan) -> list[dict]:
    return [rule.to_json() for rule in plan]
