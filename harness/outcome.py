"""The outcome of one probe: what the client saw, classified in exactly one place.

A client (raw probe, SDK, Claude Code) reports an `Observation`: low-level facts from its
own socket / protocol / process view. `classify()` turns that into one of the outcome
kinds below. Verdicts downstream are computed from these records only (never from what a
world claims to have done).

Kinds (`Outcome.kind`) and their parameters:
    completed                  stream ended with message_stop (or a complete 2xx JSON body)
    truncated_clean            the response ended cleanly (EOF / END_STREAM / chunked end)
                               without message_stop: a silent truncation
    reset_before_headers       TCP RST (ECONNRESET) before response headers
    reset_mid_stream           TCP RST after response headers
    fin_mid_stream             FIN (EOF) after headers but before the response was complete
    fin_before_headers         FIN (EOF) before any response headers
    h2_rst_stream(code)        RST_STREAM on our stream
    h2_goaway(code)            GOAWAY that ended our stream
    http_error(status, type)   a response with status >= 400 (type from the API error body)
    sse_error(type)            an `event: error` in the stream
    timeout(phase)             our own timer fired: phase connect | headers | upload (no upload
                               progress before headers) | body
    connect_error(errno)       the connection could not be made (ENETUNREACH, ECONNREFUSED...)
The record's `label` is the display form, e.g. "h2_rst_stream(2)", "http_error(529, overloaded_error)".
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema",
                           "outcome.schema.json")

KINDS = ("completed", "truncated_clean", "reset_before_headers", "reset_mid_stream", "fin_mid_stream",
         "fin_before_headers", "h2_rst_stream", "h2_goaway", "http_error", "sse_error", "timeout",
         "connect_error")
ENDS = ("complete", "eof", "reset", "rst_stream", "goaway", "timeout", "connect_error")
PHASES = ("connect", "headers", "upload", "body")  # upload: before headers, no upload progress


@dataclass
class Observation:
    """Facts as the client saw them. `end` is how the exchange ended from its side."""

    end: str  # one of ENDS
    status: int | None = None  # response status, None if no headers arrived
    message_stop: bool = False  # saw event message_stop (streaming) or a full JSON message
    sse_error_type: str | None = None  # type of an `event: error` seen in the stream
    error_type: str | None = None  # API error body's error.type for status >= 400
    h2_code: int | None = None  # RST_STREAM / GOAWAY error code
    errno: int | None = None  # for connect_error (and recorded for resets)
    timeout_phase: str | None = None  # connect | headers | upload | body, for end == "timeout"


@dataclass
class Outcome:
    kind: str
    code: int | None = None  # h2 error code, or errno for connect_error
    status: int | None = None
    type: str | None = None  # API / SSE error type
    phase: str | None = None  # for timeouts

    @property
    def label(self) -> str:
        if self.kind in ("h2_rst_stream", "h2_goaway", "connect_error"):
            return f"{self.kind}({self.code})"
        if self.kind == "http_error":
            return f"http_error({self.status}, {self.type})"
        if self.kind == "sse_error":
            return f"sse_error({self.type})"
        if self.kind == "timeout":
            return f"timeout({self.phase})"
        return self.kind

    @property
    def is_reset(self) -> bool:
        """A connection-level or stream-level abort (what the field report counts)."""
        return self.kind in ("reset_before_headers", "reset_mid_stream", "h2_rst_stream", "h2_goaway")


def classify(obs: Observation) -> Outcome:
    """The one place where what a client saw becomes an outcome kind."""
    if obs.end not in ENDS:
        raise ValueError(f"Observation.end: got {obs.end!r}; allowed one of {', '.join(ENDS)}")
    headers = obs.status is not None
    # An API error answer is an http_error whatever happened after it.
    if headers and obs.status >= 400:
        return Outcome("http_error", status=obs.status, type=obs.error_type)
    if obs.sse_error_type is not None:
        return Outcome("sse_error", type=obs.sse_error_type)
    if obs.end == "connect_error":
        return Outcome("connect_error", code=obs.errno)
    if obs.end == "timeout":
        phase = obs.timeout_phase or ("body" if headers else "headers")
        if phase not in PHASES:
            raise ValueError(f"Observation.timeout_phase: got {phase!r}; allowed one of {', '.join(PHASES)}")
        return Outcome("timeout", phase=phase)
    if obs.end == "rst_stream":
        return Outcome("h2_rst_stream", code=obs.h2_code)
    if obs.end == "goaway" and not obs.message_stop:
        return Outcome("h2_goaway", code=obs.h2_code)
    if obs.end == "reset":
        return Outcome("reset_mid_stream" if headers else "reset_before_headers")
    if obs.message_stop:
        return Outcome("completed")
    if obs.end == "eof":
        return Outcome("fin_mid_stream" if headers else "fin_before_headers")
    return Outcome("truncated_clean")  # complete / goaway after a clean end, no message_stop


@dataclass
class ProbeRecord:
    """One JSON object per probe (schema/outcome.schema.json)."""

    outcome: str  # Outcome.kind
    label: str  # Outcome.label
    client: str  # raw | python-sdk | node-sdk | claude-code
    client_version: str | None = None
    protocol: str | None = None  # http/1.1 | h2c | h2, as negotiated
    code: int | None = None
    status: int | None = None
    error_type: str | None = None
    phase: str | None = None
    bytes_received: int = 0
    events_received: int = 0
    request_bytes: int = 0
    t_headers: float | None = None  # seconds from request start to response headers
    t_failure: float | None = None  # seconds from request start to the failure (None if completed)
    t_total: float = 0.0
    request_id: str | None = None  # captured even on failure, when headers arrived
    cf_ray: str | None = None
    attempt: int = 1  # which attempt this record describes (1 = first)
    attempts: int = 1  # requests the client made, as far as the client side can tell
    retry_delays: list[float] = field(default_factory=list)
    client_message: str | None = None  # what the client itself reported
    rst_from: str | None = None  # host that emitted the RST, when taps were on
    # with a tap (harness.wire): outcome/label above are the wire's where it decides, and
    # these keep what the client itself said; `wire` holds every exchange the tap saw
    client_outcome: str | None = None
    client_label: str | None = None
    wire: dict[str, Any] | None = None
    probe: dict[str, Any] = field(default_factory=dict)  # the probe's parameters
    world: str | None = None
    backend: str | None = None
    ts: float = field(default_factory=time.time)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_outcome(cls, outcome: Outcome, client: str, **kw: Any) -> ProbeRecord:
        """The record for an outcome; `status` in kw (the response status) fills in when the
        outcome itself carries none (e.g. a reset after a 200's headers)."""
        status = kw.pop("status", None)
        return cls(outcome=outcome.kind, label=outcome.label, client=client, code=outcome.code,
                   status=outcome.status if outcome.status is not None else status,
                   error_type=outcome.type, phase=outcome.phase, **kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def prefer_wire(record: ProbeRecord, wire_obs: Observation | None, wire: dict[str, Any]) -> ProbeRecord:
    """Keep the client's label in client_outcome / client_label and, where the wire decided
    the exchange (`wire_obs` not None), make the wire's classification the record's outcome.
    The client's own facts (bytes, events, timings, retries, message) are kept as they are."""
    record.wire = wire
    record.client_outcome, record.client_label = record.outcome, record.label
    if wire_obs is not None:
        out = classify(wire_obs)
        record.outcome, record.label, record.code = out.kind, out.label, out.code
        record.status = out.status if out.status is not None else wire_obs.status
        record.error_type, record.phase = out.type, out.phase
    return record


def load_schema() -> dict:
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def validate(record: dict) -> None:
    """Raise jsonschema.ValidationError if `record` does not match the versioned schema."""
    import jsonschema

    jsonschema.validate(record, load_schema())
