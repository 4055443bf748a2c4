"""Origin configuration (what the user sets) and state (what one running origin shares)."""

from __future__ import annotations

import itertools
import shutil
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # trustme pulls in cryptography (~0.5 s): only TLS origins load it
    import trustme

from .attempts import AttemptCounter
from .plan import Plan, parse_plan
from .reqlog import RequestLog
from .sse import StreamSpec, parse_stream_spec
from .tls import TlsMaterial, make_tls

MAX_BODY_BYTES = 32 * 1024 * 1024  # the API's request limit (32 MB)


@dataclass
class OriginConfig:
    """Everything about one origin. ``plan`` and ``stream`` accept JSON text or decoded data."""

    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = False
    alpn: tuple[str, ...] = ("h2", "http/1.1")  # offered, in preference order
    h2c: bool = True  # accept HTTP/2 prior knowledge on a cleartext port
    ca_path: str | None = None  # where to write the CA PEM (default: a new temp dir)
    ca: trustme.CA | None = None  # reuse a CA (e.g. shared with edge proxies)
    tls_hostnames: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    plan: Any = ()
    stream: Any = field(default_factory=StreamSpec)
    log_path: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    require_api_key: bool = True
    h2_max_concurrent_streams: int = 100
    # close keep-alive connections idle this long (None: never), like an edge's idle timeout
    keepalive_idle_timeout: float | None = None

    def __post_init__(self) -> None:
        # Validate eagerly so a bad plan fails at configuration time with one line.
        if not isinstance(self.plan, tuple):
            self.plan = parse_plan(self.plan)
        if not isinstance(self.stream, StreamSpec):
            self.stream = parse_stream_spec(self.stream)


@dataclass(frozen=True)
class OriginInfo:
    """Where a started origin listens (what ``nursery.start(serve_origin, ...)`` returns)."""

    host: str
    port: int
    scheme: str
    ca_path: str | None
    log_path: str | None
    records: deque = field(compare=False, repr=False)  # recent request-log records

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def ready_line(self) -> str:
        """The CLI's single ready line: ``resetlab origin listening on URL [key=value ...]``."""
        extra = [f"{k}={v}" for k, v in (("ca", self.ca_path), ("log", self.log_path)) if v]
        return " ".join(["resetlab origin listening on", self.url, *extra])


def parse_ready_line(line: str) -> dict[str, str]:
    """Inverse of ready_line: {"url": ..., "ca": ..., "log": ...}. Raises ValueError."""
    words = line.split()
    if words[:4] != ["resetlab", "origin", "listening", "on"] or len(words) < 5:
        raise ValueError(f"not an origin ready line: {line!r}")
    out = {"url": words[4]}
    out.update(w.split("=", 1) for w in words[5:] if "=" in w)
    return out


class OriginState:
    """Shared by all connections of one running origin."""

    def __init__(self, config: OriginConfig, bound_host: str, handler=None):
        if handler is None:
            from .api import handle as handler
        self.config = config
        self.plan: Plan = config.plan
        self.stream: StreamSpec = config.stream
        self.tls: TlsMaterial | None = None
        if config.tls:
            self.tls = make_tls((*config.tls_hostnames, bound_host), config.alpn,
                                config.ca_path, config.ca)
        self.log = RequestLog(config.log_path)
        self.handler = handler  # serves one Exchange: api.handle, or an edge's relay
        self.attempts = AttemptCounter()
        self._conn_ids = itertools.count(1)

    def next_conn_id(self) -> int:
        return next(self._conn_ids)

    def close(self) -> None:
        self.log.close()
        if self.tls is not None and self.tls.temp_dir:
            shutil.rmtree(self.tls.temp_dir, ignore_errors=True)
