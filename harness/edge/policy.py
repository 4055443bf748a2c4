"""EdgePolicy: the limits an edge (CDN / load balancer / proxy) enforces, and what it does
when one trips. One policy drives three implementations: the built-in trio edge (exact),
and nginx and haproxy from Debian (as close as their configuration language allows; what
they really send when a limit trips is measured by the tests, not assumed here).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from harness.units import scaled, timed_fields, unit
from netem.errors import ConfigError, check_choice, check_range

ACTIONS = ("rst", "fin", "rst_stream", "goaway", "status")
PROTOCOLS = ("http1", "h2c")
MAX_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class EdgePolicy:
    """All durations in seconds; None means "no such limit"."""

    # request sent upstream -> first response byte
    first_byte_timeout: float | None = field(default=None, metadata=unit("s"))
    # longest silence from upstream once bytes flow
    idle_timeout: float | None = field(default=None, metadata=unit("s"))
    # wall clock from request start to response end
    max_stream_duration: float | None = field(default=None, metadata=unit("s"))
    max_body_bytes: int | None = None  # request bodies above this are refused (413)
    # idle keep-alive client connections closed after
    client_idle_timeout: float | None = field(default=None, metadata=unit("s"))
    # client accepts no response bytes for this long
    send_stall_timeout: float | None = field(default=None, metadata=unit("s"))
    client_protocol: str = "http1"  # what the edge speaks to the client: http1 or h2c
    on_limit: str = "rst"  # rst | fin | rst_stream | goaway | status
    status: int = 524  # for on_limit=status (Cloudflare's "a timeout occurred")
    h2_error_code: int = 2  # RST_STREAM / GOAWAY code (2 = INTERNAL_ERROR)

    def __post_init__(self) -> None:
        for name in DURATIONS:
            v = getattr(self, name)
            if v is not None:
                check_range(f"EdgePolicy.{name}", v, 0.001, MAX_SECONDS, "seconds, or None")
        if self.max_body_bytes is not None:
            check_range("EdgePolicy.max_body_bytes", self.max_body_bytes, 1, 2**40, "bytes, or None")
        check_choice("EdgePolicy.client_protocol", self.client_protocol, PROTOCOLS)
        check_choice("EdgePolicy.on_limit", self.on_limit, ACTIONS)
        if self.on_limit in ("rst_stream", "goaway") and self.client_protocol != "h2c":
            raise ConfigError("EdgePolicy.on_limit", self.on_limit, "rst, fin or status with client_protocol http1")
        check_range("EdgePolicy.status", self.status, 400, 599, "an HTTP error status")
        check_range("EdgePolicy.h2_error_code", self.h2_error_code, 0, 2**32 - 1, "an HTTP/2 error code")

    def scaled(self, time_scale: float) -> EdgePolicy:
        """Every duration multiplied by time_scale (bytes unchanged; harness/units.py)."""
        return scaled(self, time_scale)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EdgePolicy:
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ConfigError(f"EdgePolicy.{k}", d[k], "fields " + ", ".join(sorted(known)))
        return cls(**d)


DURATIONS = tuple(timed_fields(EdgePolicy))


def lost_in_real_proxy(policy: EdgePolicy, proxy: str) -> list[str]:
    """What nginx / haproxy cannot express of a policy (both have the same gaps)."""
    out = [name for name in ("max_stream_duration", "send_stall_timeout") if getattr(policy, name) is not None]
    if policy.first_byte_timeout is not None and policy.idle_timeout is not None \
            and policy.first_byte_timeout != policy.idle_timeout:
        out.append("first_byte_timeout != idle_timeout (both become the smaller)")
    if policy.on_limit != "fin":
        out.append(f"on_limit={policy.on_limit} ({proxy} decides what it sends)")
    return out
