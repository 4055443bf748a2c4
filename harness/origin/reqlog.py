"""The request log: one JSON object per request, appended to a JSONL file.

Record schema (one line per request, written when the request is over):

    ts              float   Unix time the request headers arrived
    request_id      str     the request-id header we sent (req_...)
    conn            int     connection number within this origin process
    stream_id       int|null  HTTP/2 stream id
    client          str     "ip:port" of the client
    protocol        str     http/1.1 | h2c | h2
    method, path    str     path is the full request target (query included)
    headers         {str: str}  request headers, lower-case names, credentials redacted
    body_bytes      int     request-body bytes received
    body_sha256     str|null  first 16 hex digits of the body's SHA-256, once read whole
    attempt         int|null, attempt_source: x-stainless-retry-count | x-resetlab-attempt | counter
    status          int|null  response status sent (null: none was sent)
    error_type      str|null  error.type of an error response
    served          str|null  stream | message | count_tokens | head | error
    events, pings, bytes_sent   int   scripted SSE events / keep-alive pings / body bytes sent
    injected        str|null  the last fault action that fired (e.g. "tcp_rst")
    actions         [ {rule, action, params, phase, events, bytes, seconds} ]  every fired action
    not_applicable  [str]   rules that held but whose action does not apply here
    outcome         completed | injected | client_closed | connection_closed | server_error
    stream          object|null  the effective stream config (POST /v1/messages only)
    plan_source     server | header | null
    timings         {received, body_received, headers_sent, finished}: Unix times or null

API keys never reach the log: ``x-api-key``, ``authorization``, ``proxy-authorization`` and
``cookie`` values are replaced by "[redacted]", and request bodies are never written.
"""

from __future__ import annotations

import json
from collections import deque
from typing import IO

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})


def redact_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        value = REDACTED if name in SECRET_HEADERS else value
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


class RequestLog:
    """Appends records to a JSONL file (if a path is given) and keeps recent ones in memory."""

    def __init__(self, path: str | None = None, keep: int = 10_000):
        self.path = path
        self.records: deque[dict] = deque(maxlen=keep)
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, record: dict) -> None:
        self.records.append(record)
        if self._file is not None:
            # One write + flush per line so concurrent readers never see half a record.
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
