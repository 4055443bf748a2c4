"""Attempt numbering: which try of "the same request" this is (1 = first try).

Plan rules with ``"attempts": [...]`` fire only on those attempt numbers. The number
comes from the first source that applies:

1. ``x-stainless-retry-count: K`` -> attempt K + 1. The anthropic SDKs (Python, TS)
   and Claude Code send it on every request (0 on the first try), so SDK retries are
   numbered exactly, whatever connection they use.
2. ``x-resetlab-attempt: N`` -> attempt N (for raw clients and probes).
3. Otherwise a counter in the origin process keyed by (client IP, request path without
   query, SHA-256 of the body): the N-th such request is attempt N. The port is left
   out on purpose: a retry usually comes on a new connection. This needs the body, so
   with this source the attempt is unknown - and attempt-filtered rules cannot fire -
   during the request_headers and request_body phases.

A header with a non-integer or out-of-range value is ignored (falls through).
Claude Code 2.1.104 sends ``x-stainless-retry-count: 0`` on every retry (measured), so
a request carrying ``x-claude-code-session-id`` and a retry count of 0 falls through to
the counter, which does number its retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def from_headers(header: Callable[[str], str | None]) -> tuple[int, str] | None:
    """(attempt, source) from request headers, or None if neither header is usable."""
    for name, offset in (("x-stainless-retry-count", 1), ("x-resetlab-attempt", 0)):
        raw = header(name)
        if raw is None:
            continue
        if name == "x-stainless-retry-count" and raw.strip() == "0" and header("x-claude-code-session-id"):
            continue  # Claude Code's count is always 0: not a count
        try:
            value = int(raw.strip()) + offset
        except ValueError:
            continue
        if value >= 1:
            return value, name
    return None


class AttemptCounter:
    """The fallback: count requests per (client IP, path, body hash)."""

    source = "counter"

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], int] = {}

    def next(self, client_ip: str, path: str, body: bytes) -> int:
        key = (client_ip, path, hashlib.sha256(body).hexdigest())
        self._seen[key] = self._seen.get(key, 0) + 1
        return self._seen[key]
