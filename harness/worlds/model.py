"""Worlds and probes as data: printable, serializable (JSON / TOML), comparable.

A World is the environment a hypothesis says the field user lived in; a ProbeSpec is
one measurement in it. Both are stated in field units (seconds as a user would see them:
a 100 s edge read timeout, a 350 s NAT timeout, a 40 s stream). `time_scale` multiplies
every duration -- budgets, gaps, outages, keepalive, ping interval, think time -- when
the world is built and the probe is run, so the matrix runs in seconds while every ratio
that decides an outcome is kept. Bytes are not scaled; nor are link delays (milliseconds,
part of the network, not of any budget).

The topology is the same for every world:
    client -- access -- nat -- backbone -- edge -- dc -- origin
(`edge = "none"` still keeps the edge host, as a plain router.)
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from harness.edge.policy import EdgePolicy
from netem.errors import ConfigError, check_choice, check_range
from netem.outage import OutageSchedule, Window
from netem.profile import LinkProfile

HYPOTHESES = ("control", "h1", "h2", "h3", "h4", "h5", "field")
EDGES = ("builtin", "nginx", "haproxy", "none")
LINKS = ("access", "backbone", "dc")
FORMAT_VERSION = 1

# plan fields that are durations (scaled) -- see harness/origin/plan.py
_PLAN_SECONDS = ("after_seconds", "idle_seconds_over", "body_bytes_times_seconds_over")


def scale_plan(rules: list[dict], s: float) -> list[dict]:
    out = []
    for rule in rules:
        rule = json.loads(json.dumps(rule))
        when = rule.get("when", {})
        for key in _PLAN_SECONDS:
            if isinstance(when.get(key), int | float):
                when[key] = when[key] * s
        for params in rule.get("do", {}).values():
            if isinstance(params, dict) and isinstance(params.get("seconds"), int | float):
                params["seconds"] = params["seconds"] * s
        out.append(rule)
    return out


@dataclass(frozen=True)
class Outages:
    """Outages on one link: fixed windows and/or a Poisson process (field seconds)."""

    link: str = "access"
    windows: tuple[Window, ...] = ()
    poisson_rate_per_s: float = 0.0  # mean outages per second
    poisson_mean_s: float = 0.0  # mean outage duration
    period_s: float = 0.0  # periodic outages: one every period_s ...
    down_s: float = 0.0  # ... lasting down_s
    kind: str = "down"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("Outages.link", self.link, LINKS)
        check_range("Outages.poisson_rate_per_s", self.poisson_rate_per_s, 0, 100, "per second")
        check_range("Outages.poisson_mean_s", self.poisson_mean_s, 0, 1e6, "seconds")

    @property
    def active(self) -> bool:
        return bool(self.windows or self.poisson_rate_per_s or self.period_s)

    def schedule(self, link_label: str, time_scale: float, horizon: float) -> OutageSchedule:
        """Scaled schedule for a run lasting `horizon` real seconds."""
        windows = [Window(w.start * time_scale, w.duration * time_scale, w.kind) for w in self.windows]
        if self.period_s:
            t, period, down = self.period_s * time_scale, self.period_s * time_scale, self.down_s * time_scale
            while t < horizon:
                windows.append(Window(t, down, self.kind))
                t += period
        if self.poisson_rate_per_s:
            p = OutageSchedule.poisson(link_label, self.poisson_rate_per_s / time_scale,
                                       self.poisson_mean_s * time_scale, horizon, self.kind, self.seed)
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
    nat_timeout: float = 7440.0  # established conntrack timeout on the NAT (RFC 5382 minimum)
    nat_stale: str = "new_mapping"
    edge: str = "builtin"
    edge_policy: EdgePolicy = field(default_factory=EdgePolicy)
    origin_plan: tuple[dict, ...] = ()  # fault plan rules, field seconds
    origin_stream: dict = field(default_factory=lambda: {"ping_interval": 30.0})  # field seconds
    prefill_s_per_mb: float = 0.0  # origin: time to first byte grows with the request size
    client_idle_timeout: float = 300.0  # the user's client gives up on a silent stream after this
    outages: Outages = field(default_factory=Outages)

    def __post_init__(self) -> None:
        check_choice("World.hypothesis", self.hypothesis, HYPOTHESES)
        check_range("World.time_scale", self.time_scale, 1e-4, 10, "a factor")
        check_range("World.nat_timeout", self.nat_timeout, 1, 2**31 - 1, "seconds")
        check_choice("World.edge", self.edge, EDGES)
        check_range("World.prefill_s_per_mb", self.prefill_s_per_mb, 0, 3600, "seconds per MB")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("World.name", self.name, "a non-empty string")
        if self.origin_stream.get("ping_interval", 0) is None:
            # "no pings" is 0 (TOML has no null), which the origin reads the same way
            object.__setattr__(self, "origin_stream", {**self.origin_stream, "ping_interval": 0})

    # -- scaled values used to build it -----------------------------------------------------

    def seconds(self, field_seconds: float | None) -> float | None:
        return None if field_seconds is None else field_seconds * self.time_scale

    @property
    def scaled_policy(self) -> EdgePolicy:
        return self.edge_policy.scaled(self.time_scale)

    @property
    def scaled_plan(self) -> list[dict]:
        return scale_plan(list(self.origin_plan), self.time_scale)

    @property
    def scaled_stream(self) -> dict:
        s = dict(self.origin_stream)
        for key in ("ping_interval", "gap", "duration", "headers_delay", "first_event_delay"):
            if isinstance(s.get(key), int | float):
                s[key] = s[key] * self.time_scale
        return s

    # -- data ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["origin_plan"] = list(self.origin_plan)
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> World:
        d = dict(d)
        version = d.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError("World.format_version", version, str(FORMAT_VERSION))
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ConfigError(f"World.{k}", d[k], "fields " + ", ".join(sorted(known)))
        for key in ("access", "backbone"):
            if isinstance(d.get(key), dict):
                d[key] = LinkProfile.from_dict(d[key])
        if isinstance(d.get("edge_policy"), dict):
            d["edge_policy"] = EdgePolicy.from_dict(d["edge_policy"])
        if isinstance(d.get("outages"), dict):
            o = dict(d["outages"])
            o["windows"] = tuple(Window(**w) if isinstance(w, dict) else Window(*w) for w in o.get("windows", ()))
            d["outages"] = Outages(**o)
        if "origin_plan" in d:
            d["origin_plan"] = tuple(d["origin_plan"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(_drop_none(self.to_dict()))

    @classmethod
    def load(cls, path: str) -> World:
        """A world from a .json or .toml file (the format is documented in worlds/README.md)."""
        with open(path, "rb") as f:
            raw = f.read()
        try:
            data = tomllib.loads(raw.decode()) if path.endswith(".toml") else json.loads(raw)
        except (ValueError, tomllib.TOMLDecodeError) as e:
            raise ConfigError("--world-file", path, f"a JSON or TOML world file ({e})") from None
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


def _drop_none(d: Any) -> Any:
    # TOML has no null: None-valued keys are left out and restored as defaults on load
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list | tuple):
        return [_drop_none(v) for v in d]
    return d



PROBE_PROTOCOLS = ("http1", "h2c")
PROBE_CLIENTS = ("raw", "python-sdk", "node-sdk", "claude-code")
EVENTS_PER_SECOND = 4  # stream pacing: deltas per field second of stream (capped below)


@dataclass(frozen=True)
class ProbeSpec:
    """One measurement in a world, in field units (see the module docstring)."""

    size: int = 1024  # request body bytes
    duration: float = 10.0  # stream duration, field seconds
    longest_idle: float = 0.0  # one silence of this length mid-stream (0: none), field seconds
    keepalive: float | None = None  # TCP keepalive idle, field seconds
    protocol: str = "http1"  # http1 | h2c
    read_pace: float | None = None  # slow consumer, bytes/s (not scaled: a client property)
    h2_window: int | None = None  # the client's HTTP/2 stream window, bytes
    think_time: float | None = None  # the probe is the 2nd request on a connection idle this long
    canary: bool = False
    stream: bool = True
    idle_timeout: float | None = None  # client stream watchdog, field s (None: the world's)
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

    def lab_stream(self, world: World) -> dict:
        """The origin stream config (x-resetlab-stream) that makes this probe, scaled."""
        s = world.time_scale
        deltas = max(4, min(400, int(self.duration * EVENTS_PER_SECOND)))
        out: dict = {"deltas": deltas, "duration": self.duration * s}
        if self.longest_idle:
            out["idle"] = [{"after_event": 3, "seconds": self.longest_idle * s}]
        return out

    def scaled_keepalive(self, world: World) -> int | None:
        # TCP keepalive counts whole seconds (>= 1): round up, and worlds keep margins for it
        import math

        return None if self.keepalive is None else max(1, math.ceil(self.keepalive * world.time_scale))

    def to_dict(self) -> dict:
        return asdict(self)
