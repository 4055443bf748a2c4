"""One request as the wire saw it (`Exchange`), and what a response body says (`Body`)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from harness.origin.testing import parse_sse

PEER_ENDS = ("rst", "fin", "rst_stream", "goaway", "refused")
ENDS = ("complete", *PEER_ENDS, "client_rst", "client_fin", "open")
MAIN_BETA = "claude-code-20250219"  # Claude Code's conversation requests carry it (side ones do not)


@dataclass
class Exchange:
    """One request on the wire, and how it ended. Times are seconds from the probe's start."""

    conn: int  # index of the TCP connection among the probe's connections
    protocol: str  # http/1.1 | h2c | tls
    method: str | None = None
    path: str | None = None
    main: bool = True  # not a side request (Claude Code's title / HEAD requests)
    stream_id: int | None = None
    t_request: float | None = None
    request_bytes: int | None = None  # the body's declared length
    status: int | None = None
    t_headers: float | None = None
    error_type: str | None = None  # API error body's error.type (status >= 400)
    sse_error_type: str | None = None
    message_stop: bool = False
    end: str = "open"  # one of ENDS
    code: int | None = None  # RST_STREAM / GOAWAY error code
    t_end: float | None = None
    bytes_up: int = 0  # request bytes (this request's share of the stream) sent by t_end
    bytes_down: int = 0  # response bytes (this response's share) received by t_end
    rst_from: str | None = None  # host that emitted the RST (all hosts tapped)
    silence: float = 0.0  # longest stretch with nothing arriving, request to end
    retransmits: int = 0  # segments sent again on this connection (both ways)

    @property
    def headers_before_end(self) -> bool:
        return self.t_headers is not None and (self.t_end is None or self.t_headers <= self.t_end)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


# -- HTTP/1.1 --------------------------------------------------------------------------------


class Body:
    """What a response body says: SSE events, or an API error / message JSON."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.sse_error_type: str | None = None
        self.message_stop = False

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        if b"event: " not in chunk and not self.data.startswith(b"event:"):
            return
        try:
            events = parse_sse(bytes(self.data))
        except ValueError:
            return
        for name, payload in events:
            if name == "message_stop":
                self.message_stop = True
            elif name == "error" and self.sse_error_type is None:
                err = payload.get("error") if isinstance(payload, dict) else None
                self.sse_error_type = (err or {}).get("type") or "unknown"

    def json_type(self) -> tuple[str | None, str | None]:
        """(body type, error.type) of a JSON body."""
        try:
            body = json.loads(bytes(self.data))
        except ValueError:
            m = re.search(rb'"error"\s*:\s*\{\s*"type"\s*:\s*"([^"]+)"', self.data)
            return None, m.group(1).decode() if m else None
        if not isinstance(body, dict):
            return None, None
        err = body.get("error")
        return body.get("type"), err.get("type") if isinstance(err, dict) else None
