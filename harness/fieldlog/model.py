"""Claude Code session records: what the analyzer takes from one parsed JSONL line.

Shapes (measured with Claude Code 2.1.104 interactive against the mock origin, and the field
report's Appendix A):

    {"type": "system", "subtype": "api_error", "level": "error", "cause": {},
     "error": {"type": null, "cause": {}}, "retryInMs": 564.7, "retryAttempt": 1,
     "maxRetries": 2, "timestamp": "2026-...Z", "sessionId": "...", "version": "2.1.104",
     "isSidechain": false, "uuid": "...", ...}                         (Node: cause {})
    ... "cause": {"code": "ECONNRESET", "path": "https://...", "errno": 0} ...   (Bun)

    {"type": "assistant", "message": {"model": "<synthetic>", "content": [{"type": "text",
     "text": "API Error: Unable to connect to API (ECONNRESET)"}], ...},
     "error": "unknown", "isApiErrorMessage": true, "timestamp": ..., ...}   (the turn died)

    {"type": "assistant", "message": {"model": "claude-...", "content": [...],
     "stop_reason": "end_turn", ...}, "requestId": "req_...", ...}          (a real answer)

Nothing here keeps message text: an assistant record is reduced to its kind, and a synthetic
API error to a fixed category (``synthetic_kind``). Codes and versions are kept only when they
look like codes and versions (anything else becomes "other"), so no free text reaches output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

UNKNOWN_CODE = "unknown"  # cause {} (Node) or no cause at all
OTHER = "other"
CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z.+-]{1,40}$")
SYNTHETIC_MODEL = "<synthetic>"

# Cheap byte markers (a JSON string token equal to X appears unescaped as "X"; Claude Code
# never \u-escapes ASCII), used to skip json.loads on lines that cannot matter.
MARK_API_ERROR = b'"api_error"'
MARK_ASSISTANT = b'"assistant"'
MARK_TIMESTAMP = b'"timestamp"'
MARK_USER = b'"user"'
MARKS_SYNTHETIC = (b"isApiErrorMessage", b"<synthetic>")
# Records with a nested "timestamp" but no top-level one (Claude Code writes "type" first).
NOT_EVENTS = (b'{"type":"file-history-snapshot"',)


def loads(data: bytes) -> dict | None:
    """One JSONL line -> dict, or None when it is not a JSON object (malformed)."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError
        return None
    return obj if isinstance(obj, dict) else None


def parse_ts(value) -> float | None:
    """ISO-8601 timestamp ("2026-04-14T03:07:30.074Z") -> POSIX seconds; None if unusable."""
    if not isinstance(value, str) or not (10 <= len(value) <= 40):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:  # Claude Code writes UTC ("Z"); a naive stamp is taken as UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def event_ts(rec: dict) -> float | None:
    """The record's own (top-level) timestamp: records that have one are session events."""
    return parse_ts(rec.get("timestamp"))


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _clean(value, pattern: re.Pattern) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and pattern.match(value):
        return value
    return OTHER


@dataclass(frozen=True, slots=True)
class ApiError:
    """One system/api_error record: a failed request attempt that Claude Code will retry."""

    ts: float | None
    attempt: int | None  # retryAttempt (1-based)
    max_retries: int | None
    retry_in_ms: float | None
    code: str  # cause.code (Bun), else error.cause.code, else "unknown" (Node's cause {})
    has_path: bool  # cause.path present and non-null
    version: str | None
    session_id: str | None
    uuid: str | None
    sidechain: bool


def is_api_error(rec: dict) -> bool:
    # The field report's excerpts drop "type"; Claude Code writes "type": "system".
    return rec.get("subtype") == "api_error" and rec.get("type", "system") == "system"


def _cause(rec: dict) -> dict:
    cause = rec.get("cause")
    if isinstance(cause, dict) and cause:
        return cause
    err = rec.get("error")
    if isinstance(err, dict) and isinstance(err.get("cause"), dict) and err["cause"]:
        return err["cause"]
    return {}


def api_error(rec: dict) -> ApiError:
    cause = _cause(rec)
    code = cause.get("code")
    code = _clean(code, CODE_RE) if code is not None else UNKNOWN_CODE
    uuid = rec.get("uuid")
    sid = rec.get("sessionId")
    return ApiError(
        ts=event_ts(rec),
        attempt=_int(rec.get("retryAttempt")),
        max_retries=_int(rec.get("maxRetries")),
        retry_in_ms=_num(rec.get("retryInMs")),
        code=code or UNKNOWN_CODE,
        has_path=cause.get("path") is not None,
        version=_clean(rec.get("version"), VERSION_RE),
        session_id=sid if isinstance(sid, str) else None,
        uuid=uuid if isinstance(uuid, str) else None,
        sidechain=rec.get("isSidechain") is True,
    )


# -- assistant records -------------------------------------------------------------------

REAL = "real"
SYNTHETIC_API_ERROR = "synthetic_api_error"
SYNTHETIC_OTHER = "synthetic_other"  # e.g. "No response requested." after an interrupt


def _first_text(msg: dict) -> str:
    content = msg.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        for c in content:
            if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str):
                return c["text"]
    return ""


def assistant_kind(rec: dict) -> str | None:
    """REAL / SYNTHETIC_API_ERROR / SYNTHETIC_OTHER, or None if not an assistant record.

    Synthetic = isApiErrorMessage true, or message.model "<synthetic>". A synthetic message is
    an API-error turn when isApiErrorMessage is true or its text starts with "API Error"."""
    if rec.get("type") != "assistant":
        return None
    msg = rec.get("message")
    msg = msg if isinstance(msg, dict) else {}
    flagged = rec.get("isApiErrorMessage") is True
    if not flagged and msg.get("model") != SYNTHETIC_MODEL:
        return REAL
    if flagged or _first_text(msg).lstrip().startswith("API Error"):
        return SYNTHETIC_API_ERROR
    return SYNTHETIC_OTHER


_KINDS = (
    (re.compile(r"API Error: Unable to connect to API \(([A-Z][A-Z_0-9]{1,40})\)"), "connect({})"),
    (re.compile(r"API Error: terminated\b"), "terminated"),
    (re.compile(r"(?:API Error: )?Request timed out"), "timeout"),
    (re.compile(r"API Error: (\d{3})\b"), "http({})"),
    (re.compile(r"API Error: \{"), "sse_error"),
    (re.compile(r"API Error: ([A-Z][A-Z_0-9]{2,40})\b"), "{}"),  # Bun: "ECONNRESET: The socket..."
)


def synthetic_kind(rec: dict) -> str:
    """A fixed category for a synthetic API error's text (never the text itself)."""
    msg = rec.get("message")
    text = _first_text(msg if isinstance(msg, dict) else {}).lstrip()[:200]
    for pattern, fmt in _KINDS:
        m = pattern.match(text)
        if m:
            return fmt.format(*m.groups())
    return OTHER


_ASSISTANT_TYPE = re.compile(rb'"type"\s*:\s*"assistant"')
_TS_RE = re.compile(rb'"timestamp"\s*:\s*"([0-9T:.+\-Z]{10,40})"')


def fragment_is_assistant(head: bytes, tail: bytes) -> bool:
    """An over-long line (only its head and tail kept): does it look like an assistant record?
    Claude Code writes "type" after "message", so the tail has it; synthetic messages are
    small, so an over-long assistant record is a real answer."""
    return bool(_ASSISTANT_TYPE.search(tail) or _ASSISTANT_TYPE.search(head))


_SIDECHAIN_RE = re.compile(rb'"isSidechain"\s*:\s*true')


def fragment_is_sidechain(head: bytes) -> bool:
    """Claude Code writes isSidechain second, so the head of the line has it."""
    return bool(_SIDECHAIN_RE.search(head[:4096]))


def fragment_ts(head: bytes, tail: bytes) -> float | None:
    """Best effort: the last "timestamp" value in the kept tail (Claude Code writes the
    top-level one after "message"), else in the head."""
    for part in (tail, head):
        found = _TS_RE.findall(part)
        if found:
            return parse_ts(found[-1].decode("ascii"))
    return None
