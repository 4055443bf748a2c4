"""Probe: the parameters of one request, as data (printable, JSON-serializable)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from netem.errors import ConfigError, check_choice, check_range

PROTOCOLS = ("http1", "h2", "h2c")
MAX_BODY = 64 * 1024 * 1024
CC_MODES = ("print", "interactive")  # Claude Code: -p (one request) or the TUI (harness/clients/claude_code/)
CC_RUNTIMES = ("node", "bun")  # what runs Claude Code's cli.js


@dataclass(frozen=True)
class Probe:
    base_url: str  # e.g. http://198.18.1.2:8080 (no trailing path)
    size: int = 1024  # request body bytes (a synthetic `messages` context of about this size)
    stream: bool = True
    protocol: str = "http1"  # http1 | h2 (TLS, ALPN) | h2c (prior knowledge)
    keepalive: float | None = None  # TCP keepalive idle seconds (interval = idle/3, count 3)
    max_retries: int = 0  # the client's own retries (SDKs, Claude Code)
    timeout: float = 60.0  # overall client timeout, seconds
    read_pace: float | None = None  # raw client: read at most this many bytes/s (slow consumer)
    read_pauses: tuple[tuple[float, float], ...] = ()  # raw: (after_seconds, pause_seconds) pairs
    h2_window: int | None = None  # raw: our HTTP/2 initial window (bytes)
    canary: bool = False  # raw: hold a second, idle connection open beside the probe
    ca_path: str | None = None  # trust this CA for TLS
    model: str = "claude-sonnet-4-5"
    max_tokens: int = 1024
    # a real key is read only from a variable the user names (probe --base-url, client
    # --api-key-env); None: the lab key (common.LAB_KEY) -- lab targets never get a real one
    api_key_env: str | None = None
    lab_stream: dict[str, Any] | None = None  # mock only: x-resetlab-stream header
    lab_plan: list[dict[str, Any]] | None = None  # mock only: x-resetlab-plan header
    seed: int = 0  # the request body's filler is drawn from this (each repeat its own body)
    headers: dict[str, str] = field(default_factory=dict)  # extra request headers
    # timers (seconds; None: probe.timeout)
    idle_timeout: float | None = None  # raw: give up on this much silence mid-body
    connect_timeout: float | None = None  # raw: TCP (+ TLS) connect
    # raw: give up before response headers when the upload has made no progress this long
    # (bytes still queued, none acknowledged): a dead flow, not a slow server (None: off)
    upload_idle: float | None = None
    think_time: float | None = None  # raw: HEAD / first, idle this long, then the probe (HTTP/1.1 reuse)
    deadline: float | None = None  # node-sdk / claude-code: kill the client after this long
    # raw client's socket
    rcvbuf: int | None = None  # SO_RCVBUF bytes (default 16 KB when read_pace is set)
    user_timeout: float | None = None  # TCP_USER_TIMEOUT seconds
    congestion: str | None = None  # TCP_CONGESTION algorithm
    canary_timeout: float | None = None  # the canary's connect and HEAD / (default min(3, timeout))
    # claude-code
    mode: str = "print"  # print (-p) | interactive (the TUI)
    runtime: str = "node"  # node | bun: what runs cli.js
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the client process
    wrap: tuple[str, ...] = ()  # a command prefix (e.g. strace ... -o F)
    # where the real clients count their retries: the origin's request log (a path), or its
    # live records (a callable or a deque: not JSON, never recorded; see retries.py)
    origin_log: str | None = None
    origin_records: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("Probe.base_url", self.base_url, "an http:// or https:// URL")
        check_range("Probe.size", self.size, 0, MAX_BODY, "bytes")
        check_choice("Probe.protocol", self.protocol, PROTOCOLS)
        if self.keepalive is not None:
            check_range("Probe.keepalive", self.keepalive, 1, 7200, "seconds (TCP keepalive idle), or None")
        check_range("Probe.max_retries", self.max_retries, 0, 100, "retries")
        check_range("Probe.timeout", self.timeout, 0.01, 86400, "seconds")
        if self.read_pace is not None:
            check_range("Probe.read_pace", self.read_pace, 1, 1e10, "bytes per second, or None")
        if self.h2_window is not None:
            check_range("Probe.h2_window", self.h2_window, 1, 2**31 - 1, "bytes, or None")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError("Probe.seed", self.seed, "an integer")
        for name in ("idle_timeout", "connect_timeout", "upload_idle", "think_time", "deadline", "user_timeout",
                     "canary_timeout"):
            if getattr(self, name) is not None:
                check_range(f"Probe.{name}", getattr(self, name), 0, 86400, "seconds, or None")
        if self.rcvbuf is not None:
            check_range("Probe.rcvbuf", self.rcvbuf, 1, 2**31 - 1, "bytes, or None")
        check_choice("Probe.mode", self.mode, CC_MODES)
        check_choice("Probe.runtime", self.runtime, CC_RUNTIMES)
        for name in ("headers", "env"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"Probe.{name}", getattr(self, name), "an object of strings")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the origin's live records (a callable or deque) are left out."""
        return asdict(replace(self, origin_records=None))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Probe:
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ConfigError(f"Probe.{k}", d[k], "fields " + ", ".join(sorted(known)))
        d = dict(d)
        if "read_pauses" in d:
            d["read_pauses"] = tuple(tuple(p) for p in d["read_pauses"])
        if "wrap" in d:
            d["wrap"] = tuple(d["wrap"])
        return cls(**d)

    def public(self) -> dict[str, Any]:
        """The parameters as recorded in results (no secrets live here: only the variable name;
        nor the origin's log, which is where the lab keeps it, not a parameter)."""
        d = self.to_dict()
        del d["origin_records"], d["origin_log"]
        return d
