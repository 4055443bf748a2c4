"""Worlds and probes as data: printable, serializable (JSON / TOML), comparable.

A World is the environment a hypothesis says the field user lived in; a ProbeSpec is
one measurement in it. Both are stated in field units (seconds as a user would see them:
a 100 s edge read timeout, a 350 s NAT timeout, a 40 s stream). Every field holding a
time carries its unit (harness/units.py); harness/worlds/compile.py turns a world and its
probes into lab units in one step -- durations times `time_scale`, rates per second
divided by it -- so the matrix runs in seconds while every ratio that decides an outcome
is kept. Bytes are not scaled; link delays are (milliseconds: a 5 ms access link is 0.1 ms
at 0.02, which the userspace backend leaves on the bare veth: see compile.py).

The topology is the same for every world:
    client -- access -- nat -- backbone -- edge -- dc -- origin
(`edge = "none"` still keeps the edge host, as a plain router.)
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness.edge.policy import EdgePolicy
from harness.origin.plan import parse_plan
from harness.origin.sse import parse_stream_spec
from harness.origin.validate import SpecError
from harness.units import scaled, unit
from netem.errors import ConfigError, check_choice, check_range
from netem.outage import KINDS, OutageSchedule, Window
from netem.profile import LinkProfile

HYPOTHESES = ("control", "h1", "h2", "h3", "h4", "h5", "field")
EDGES = ("builtin", "nginx", "haproxy", "none")
LINKS = ("access", "backbone", "dc")
FORMAT_VERSION = 1
MAX_FILE_BYTES = 1 << 20  # a world file is a page of settings
S = unit("s")


@dataclass(frozen=True)
class Outages:
    """Outages on one link: fixed windows and/or a Poisson process (field seconds)."""

    link: str = "access"
    windows: tuple[Window, ...] = field(default=(), metadata=S)  # (start, duration) seconds
    poisson_rate_per_s: float = field(default=0.0, metadata=unit("1/s"))  # mean outages per second
    poisson_mean_s: float = field(default=0.0, metadata=S)  # mean outage duration
    period_s: float = field(default=0.0, metadata=S)  # periodic outages: one every period_s ...
    down_s: float = field(default=0.0, metadata=S)  # ... lasting down_s
    kind: str = "down"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("Outages.link", self.link, LINKS)
        # the bound leaves room for the lab's rate (field rate / time_scale)
        check_range("Outages.poisson_rate_per_s", self.poisson_rate_per_s, 0, 1e6, "per second")
        check_range("Outages.poisson_mean_s", self.poisson_mean_s, 0, 1e7, "seconds")
        check_range("Outages.period_s", self.period_s, 0, 1e7, "seconds (0: no periodic outages)")
        check_range("Outages.down_s", self.down_s, 0, 1e7, "seconds")
        if self.period_s and self.down_s >= self.period_s:
            raise ConfigError("Outages.down_s", self.down_s, f"less than period_s ({self.period_s})")
        check_choice("Outages.kind", self.kind, KINDS)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError("Outages.seed", self.seed, "an integer")

    @property
    def active(self) -> bool:
        return bool(self.windows or self.poisson_rate_per_s or self.period_s)

    def scaled(self, time_scale: float) -> Outages:
        return scaled(self, time_scale, windows=tuple(
            Window(w.start * time_scale, w.duration * time_scale, w.kind) for w in self.windows))

    def schedule(self, link_label: str, horizon: float) -> OutageSchedule:
        """The schedule for a run lasting `horizon` seconds (in this object's units: call
        it on `scaled(time_scale)` for the lab's)."""
        windows = list(self.windows)
        if self.period_s:
            t = self.period_s
            while t < horizon:
                windows.append(Window(t, self.down_s, self.kind))
                t += self.period_s
        if self.poisson_rate_per_s:
            p = OutageSchedule.poisson(link_label, self.poisson_rate_per_s, self.poisson_mean_s, horizon,
                                       self.kind, self.seed)
            windows += [w for w in p.windows if all(w.end <= x.start or w.start >= x.end for x in windows)]
        return OutageSchedule(link_label, tuple(windows))


@dataclass(frozen=True)
class World:
    name: str
    hypothesis: str
    description: str = ""
    time_scale: float = 0.01
    access: LinkProfile = field(default_factory=lambda: LinkProfile(delay_ms=5))
    backbone: LinkProfile = field(default_factory=lambda: LinkProfile(delay_ms=2))
    # established conntrack timeout on the NAT (RFC 5382 minimum)
    nat_timeout: float = field(default=7440.0, metadata=S)
    nat_stale: str = "new_mapping"
    edge: str = "builtin"
    edge_policy: EdgePolicy = field(default_factory=EdgePolicy)  # scales itself
    origin_plan: tuple[dict, ...] = ()  # fault plan rules, field seconds (origin/plan.py scales them)
    origin_stream: dict = field(default_factory=lambda: {"ping_interval": 30.0})  # field s (origin/sse.py)
    # origin: time to first byte grows with the request size
    prefill_s_per_mb: float = field(default=0.0, metadata=unit("s/MB"))
    # the user's client gives up on a silent stream after this
    client_idle_timeout: float = field(default=300.0, metadata=S)
    outages: Outages = field(default_factory=Outages)  # scales itself

    def __post_init__(self) -> None:
        check_choice("World.hypothesis", self.hypothesis, HYPOTHESES)
        check_range("World.time_scale", self.time_scale, 1e-4, 10, "a factor")
        check_range("World.nat_timeout", self.nat_timeout, 1, 2**31 - 1, "seconds")
        check_choice("World.edge", self.edge, EDGES)
        check_range("World.prefill_s_per_mb", self.prefill_s_per_mb, 0, 3600, "seconds per MB")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("World.name", self.name, "a non-empty string")
        if not isinstance(self.origin_stream, dict):
            raise ConfigError("World.origin_stream", self.origin_stream, "an object of stream settings")
        if self.origin_stream.get("ping_interval", 0) is None:
            # "no pings" is 0 (TOML has no null), which the origin reads the same way
            object.__setattr__(self, "origin_stream", {**self.origin_stream, "ping_interval": 0})
        # the origin's plan and stream are checked here, with the field named, not later in
        # the origin's subprocess
        try:
            parse_plan(list(self.origin_plan), "World.origin_plan")
            parse_stream_spec(self.origin_stream, where="World.origin_stream")
        except SpecError as e:
            raise _one_line(e) from None

    # -- data ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["origin_plan"] = list(self.origin_plan)
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> World:
        from .check import check_world_dict

        if not isinstance(d, dict):
            raise ConfigError("World", d, "a table of world fields (name, hypothesis, ...)")
        d = dict(d)
        version = d.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError("World.format_version", version, str(FORMAT_VERSION))
        d = check_world_dict(d)  # types, keys, nested tables: one line each
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(_drop_none(self.to_dict()))

    @classmethod
    def load(cls, path: str) -> World:
        """A world from a .json or .toml file (the format is documented in worlds/README.md)."""
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                raise ConfigError("--world-file", path, f"a world file of at most {MAX_FILE_BYTES} bytes")
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise ConfigError("--world-file", path, f"a readable JSON or TOML file ({e.strerror})") from None
        try:
            data = tomllib.loads(raw.decode()) if path.endswith(".toml") else json.loads(raw)
        except (ValueError, RecursionError) as e:  # TOMLDecodeError, JSONDecodeError, UnicodeDecodeError
            why = str(e).splitlines()[0][:200] if isinstance(e, ValueError) else "nested too deeply"
            raise ConfigError("--world-file", path, f"a JSON or TOML world file ({why})") from None
        return cls.from_dict(data)

    def with_(self, **kw: Any) -> World:
        return replace(self, **kw)

    def describe(self) -> str:
        p = self.edge_policy
        limits = {k: v for k, v in p.to_dict().items() if v is not None and k.endswith(("timeout", "duration", "bytes"))}
        lines = [f"world {self.name} ({self.hypothesis}), time_scale {self.time_scale}",
                 f"  {self.description}" if self.description else "",
                 f"  nat: established timeout {self.nat_timeout:g} s, stale={self.nat_stale}",
                 f"  edge: {self.edge} {limits} on_limit={p.on_limit}",
                 f"  origin: stream {self.origin_stream} plan {list(self.origin_plan)}"
                 + (f" prefill {self.prefill_s_per_mb} s/MB" if self.prefill_s_per_mb else ""),
                 f"  outages: {self.outages}" if self.outages.active else ""]
        return "\n".join(line for line in lines if line)


def _one_line(e: SpecError) -> ConfigError:
    """The origin schema's own one-line message, as the ConfigError callers catch."""
    where, _, rest = str(e).partition(": ")
    err = ConfigError(where, None, rest)
    err.args = (str(e),)
    return err


def _drop_none(d: Any) -> Any:
    # TOML has no null: None-valued keys are left out and restored as defaults on load
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list | tuple):
        return [_drop_none(v) for v in d]
    return d



PROBE_PROTOCOLS = ("http1", "h2c")
PROBE_CLIENTS = ("raw", "python-sdk", "node-sdk", "claude-code")


@dataclass(frozen=True)
class ProbeSpec:
    """One measurement in a world, in field units (see the module docstring)."""

    size: int = 1024  # request body bytes
    duration: float = field(default=10.0, metadata=S)  # stream duration
    # one silence of this length mid-stream (0: none)
    longest_idle: float = field(default=0.0, metadata=S)
    keepalive: float | None = field(default=None, metadata=S)  # TCP keepalive idle
    protocol: str = "http1"  # http1 | h2c
    # slow consumer: bytes per field second (the lab reads pace / time_scale bytes per second,
    # so a window drains in the same field time at any scale)
    read_pace: float | None = field(default=None, metadata=unit("B/s"))
    h2_window: int | None = None  # the client's HTTP/2 stream window, bytes
    # the probe is the 2nd request on a connection idle this long
    think_time: float | None = field(default=None, metadata=S)
    canary: bool = False
    stream: bool = True
    # client stream watchdog (None: the world's)
    idle_timeout: float | None = field(default=None, metadata=S)
    # connect + response headers deadline (None: generous, from the probe's length and size)
    headers_timeout: float | None = field(default=None, metadata=S)
    client: str = "raw"
    tap: bool = False  # capture FIN/RST on every host: the record names who sent the RST
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("ProbeSpec.size", self.size, 0, 64 * 1024 * 1024, "bytes")
        check_range("ProbeSpec.duration", self.duration, 0, 1e6, "seconds")
        check_range("ProbeSpec.longest_idle", self.longest_idle, 0, 1e6, "seconds")
        check_choice("ProbeSpec.protocol", self.protocol, PROBE_PROTOCOLS)
        check_choice("ProbeSpec.client", self.client, PROBE_CLIENTS)
        if self.idle_timeout is not None:
            check_range("ProbeSpec.idle_timeout", self.idle_timeout, 0.001, 1e6, "seconds")
        if self.headers_timeout is not None:
            check_range("ProbeSpec.headers_timeout", self.headers_timeout, 0.001, 1e6, "seconds")

    def to_dict(self) -> dict:
        return asdict(self)
