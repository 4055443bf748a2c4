"""Probe: the parameters of one request, as data (printable, JSON-serializable)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from netem.errors import ConfigError, check_choice, check_range

PROTOCOLS = ("http1", "h2", "h2c")
MAX_BODY = 64 * 1024 * 1024


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
    api_key_env: str = "ANTHROPIC_API_KEY"  # the key is read from this variable, never stored
    lab_stream: dict[str, Any] | None = None  # mock only: x-resetlab-stream header
    lab_plan: list[dict[str, Any]] | None = None  # mock only: x-resetlab-plan header
    extra: dict[str, Any] = field(default_factory=dict)  # client-specific knobs

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Probe:
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ConfigError(f"Probe.{k}", d[k], "fields " + ", ".join(sorted(known)))
        d = dict(d)
        if "read_pauses" in d:
            d["read_pauses"] = tuple(tuple(p) for p in d["read_pauses"])
        return cls(**d)

    def public(self) -> dict[str, Any]:
        """The parameters as recorded in results (no secrets live here: only the variable name)."""
        return self.to_dict()
