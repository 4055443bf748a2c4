"""What Claude Code showed of a probe (a ClaudeCodeRun: its stream-json output, session
records, debug log, the origin's view) and the Observation the classifier reads."""

from __future__ import annotations

import errno as errno_mod
import json
import re
from dataclasses import dataclass, field

from harness.outcome import Observation

from .. import retries
from ..common import (
    errno_of,
)
from .env import MAIN_BETA, RESET_CODES


def is_main(record: dict) -> bool:
    """A conversation request (not HEAD /, not a side request such as the title generator)."""
    beta = (record.get("headers") or {}).get("anthropic-beta", "")
    return record.get("method") == "POST" and "/v1/messages" in record.get("path", "") \
        and "count_tokens" not in record.get("path", "") and MAIN_BETA in beta


@dataclass
class ClaudeCodeRun:
    """Everything one run produced, parsed."""

    mode: str
    exit_code: int | None = None
    killed: bool = False  # we ended it at the deadline
    wall: float = 0.0
    text: str | None = None  # the result / API error text Claude Code printed
    is_error: bool = False
    stream_events: list[str] = field(default_factory=list)  # print mode: SSE event types seen
    api_retries: list[dict] = field(default_factory=list)  # print mode: system/api_retry
    api_errors: list[dict] = field(default_factory=list)  # session JSONL: system/api_error
    assistant: list[dict] = field(default_factory=list)  # session JSONL: assistant records
    debug_errors: list[str] = field(default_factory=list)  # [ERROR] lines of the debug log
    screen: str = ""  # interactive: the terminal text (ANSI stripped), tail
    message_stop: bool | None = None  # the answer was complete (None: not known yet)
    stdout_tail: str = ""
    stderr_tail: str = ""
    submitted: float = 0.0  # time.time() when Enter was pressed (interactive)
    ended: float = 0.0  # time.monotonic() when the turn was over
    origin: retries.OriginView | None = None  # conversation requests of this probe
    origin_all: retries.OriginView | None = None  # every request of this probe

    @property
    def connection_code(self) -> str | None:
        """code=X of the last "Connection error details" debug line."""
        for line in reversed(self.debug_errors):
            m = re.search(r"Connection error details: code=([A-Z_0-9]+)", line)
            if m:
                return m.group(1)
        return None

    @property
    def answer_complete(self) -> bool:
        """Did the answer Claude Code showed come from a complete message?"""
        if self.fell_back:
            return True  # a non-streaming answer: one whole JSON message
        if self.stream_events:  # print mode: its own SSE view
            return "message_stop" in self.stream_events
        return self.message_stop is not False  # interactive: the record's stop_reason

    @property
    def fell_back(self) -> bool:
        """Claude Code said it fell back to a non-streaming request."""
        return any("falling back to non-streaming" in line for line in self.debug_errors)


def _error_type_in(text: str) -> str | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        body = json.loads(text[start:])
    except ValueError:
        m = re.search(r'"type"\s*:\s*"error"\s*,\s*"error"\s*:\s*\{\s*"type"\s*:\s*"([^"]+)"', text)
        return m.group(1) if m else None
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("type") if isinstance(err, dict) else None


def observe(res: ClaudeCodeRun) -> Observation:
    """What Claude Code printed (and its debug log said) -> Observation (module docstring)."""
    text = (res.text or "").strip()
    last = res.origin.last if res.origin is not None else None
    if res.text is None and not res.killed:
        raise RuntimeError(f"claude-code ({res.mode}) ended without a result (exit {res.exit_code}): "
                           f"{(res.stderr_tail or res.stdout_tail or res.screen)[-1500:]}")
    if res.killed:
        streamed = bool(res.stream_events) or (last is not None and last.get("status") is not None)
        return Observation(end="timeout", status=200 if streamed else None,
                           timeout_phase="body" if streamed else "headers")
    if not res.is_error:
        # An answer. Complete unless Claude Code's own view says the stream it answered from
        # ended without message_stop (it then shows the partial text as a normal answer).
        return Observation(end="complete", status=200, message_stop=res.answer_complete)
    body = text[len("API Error:"):].strip() if text.startswith("API Error:") else text
    m = re.match(r"Unable to connect to API \(([A-Z_0-9]+)\)", body)
    if m:
        code = m.group(1)
        if code in RESET_CODES:
            return Observation(end="reset", errno=errno_mod.ECONNRESET)
        if code in ("ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT"):
            return Observation(end="timeout", timeout_phase="connect")
        if errno_of(code) is not None and code not in ("ECONNABORTED",):
            return Observation(end="connect_error", errno=errno_of(code))
        return Observation(end="eof")
    if body.startswith("Request timed out") or text.startswith("Request timed out"):
        return Observation(end="timeout", timeout_phase="headers")
    m = re.match(r"([A-Z][A-Z_0-9]+): The socket connection was closed unexpectedly", body)
    if m:  # Bun's fetch after the headers (Node's says "terminated"); before: "Unable to connect"
        if m.group(1) in RESET_CODES:
            return Observation(end="reset", status=200, errno=errno_mod.ECONNRESET)
        return Observation(end="eof", status=200)
    if body.startswith("terminated"):
        code = res.connection_code
        if code in RESET_CODES:
            return Observation(end="reset", status=200, errno=errno_mod.ECONNRESET)
        return Observation(end="eof", status=200)
    if body.startswith("Request too large"):  # its own text for a 413 ("... (max 20MB). Double press esc")
        return Observation(end="complete", status=413, error_type="request_too_large")
    m = re.match(r"(\d{3})\b\s*(.*)", body, re.S)
    if m and int(m.group(1)) >= 400:
        return Observation(end="complete", status=int(m.group(1)), error_type=_error_type_in(m.group(2)))
    etype = _error_type_in(body)
    if etype is not None:
        return Observation(end="complete", status=200, sse_error_type=etype)
    # Any other text (e.g. "Prompt is too long" after its retries failed and a compaction
    # was tried: an 8 MB prompt under Bun) says nothing of the connection; the debug log's
    # last connection error does, so an RST is not filed as a FIN
    headers = 200 if res.stream_events else None
    if res.connection_code in RESET_CODES:
        return Observation(end="reset", status=headers, errno=errno_mod.ECONNRESET)
    return Observation(end="eof", status=headers)
