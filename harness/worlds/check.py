"""Checks for a world written by hand (a JSON or TOML file, or a dict): every problem is one
ConfigError line naming the field (a dotted path such as `World.outages.windows[1].kind`),
what was given and what is allowed -- raised before anything is built, so a bad file never
creates a namespace or starts a process.

`World.from_dict` calls `check_world_dict` first; the dataclasses' own `__post_init__`
checks (ranges, choices) still run on construction. Everything a running world would parse
later comes up front: the origin's fault plan and stream config (World itself parses them
with the origin's parsers), the edge policy once scaled, how many outages a run generates.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from netem.errors import ConfigError, check_choice, check_range
from netem.spec import STALE_BEHAVIOURS

# at most this many outages per real second: a schedule is generated for the whole run
# (compile.OUTAGE_HORIZON) and a period of a microsecond would be billions of windows
MAX_OUTAGES_PER_REAL_S = 10.0
MAX_NAME = 100


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_keys(where: str, d: Any, cls: type, required: tuple[str, ...] = ()) -> dict:
    """d is a table whose keys are fields of the dataclass cls, with the required ones present."""
    known = sorted(f.name for f in dataclasses.fields(cls))
    if not isinstance(d, dict):
        raise ConfigError(where, d, "a table with keys " + ", ".join(known) + f" (not a {_type_name(d)})")
    for k in d:
        if k not in known:
            raise ConfigError(f"{where}.{k}", d[k], "keys " + ", ".join(known))
    for k in required:
        if k not in d:
            raise ConfigError(f"{where}.{k}", None, "a value: this key is required")
    return d


def build(where: str, cls: type, d: dict, required: tuple[str, ...] = ()) -> Any:
    """cls(**d) after check_keys; a TypeError the constructor still raises becomes one line."""
    check_keys(where, d, cls, required)
    try:
        return cls(**d)
    except ConfigError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        raise ConfigError(where, d, f"valid {cls.__name__} fields ({e})") from None


def check_world_dict(d: Any) -> dict:
    """Returns a copy of d with nested tables turned into their dataclasses; raises ConfigError."""
    from harness.edge.policy import EdgePolicy
    from netem.profile import LinkProfile

    from .model import World

    d = dict(check_keys("World", d, World, required=("name", "hypothesis")))
    name = d["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
        raise ConfigError("World.name", name, f"a non-empty printable string of at most {MAX_NAME} characters")
    if not isinstance(d.get("description", ""), str):
        raise ConfigError("World.description", d["description"], "a string")
    if "client_idle_timeout" in d:
        check_range("World.client_idle_timeout", d["client_idle_timeout"], 0.001, 1e7, "seconds")
    if "nat_stale" in d:
        check_choice("World.nat_stale", d["nat_stale"], STALE_BEHAVIOURS)
    for key in ("access", "backbone"):
        if key in d and not isinstance(d[key], LinkProfile):
            d[key] = _link(f"World.{key}", d[key])
    if "edge_policy" in d and not isinstance(d["edge_policy"], EdgePolicy):
        d["edge_policy"] = _prefixed("World.edge_policy", lambda: build("World.edge_policy", EdgePolicy, d["edge_policy"]))
        ts = d.get("time_scale", World.time_scale)
        if isinstance(ts, int | float) and not isinstance(ts, bool) and ts > 0:
            _scaled_policy(d["edge_policy"], ts)
    if "origin_plan" in d:
        if not isinstance(d["origin_plan"], list | tuple):
            raise ConfigError("World.origin_plan", d["origin_plan"],
                              'a list of fault rules [{"when": {...}, "do": {...}}]')
        d["origin_plan"] = tuple(d["origin_plan"])  # its rules are checked by World itself
    if "origin_stream" in d and not isinstance(d["origin_stream"], dict):
        raise ConfigError("World.origin_stream", d["origin_stream"],
                          "a table of stream settings (see harness/origin/README.md)")
    if "outages" in d:
        d["outages"] = _outages(d["outages"], d.get("time_scale", World.time_scale))
    return d


def _scaled_policy(policy, ts: float) -> None:
    """The edge gets the policy times time_scale: a duration fine in field seconds may fall
    below what an edge can enforce once scaled."""
    try:
        policy.scaled(ts)
    except ConfigError as e:
        name = e.field.split(".")[-1]
        raise ConfigError(f"World.edge_policy.{name}", getattr(policy, name, e.given),
                          f"{e.allowed} once multiplied by time_scale {ts:g}") from None


def _link(where: str, link: Any) -> Any:
    from netem.profile import GilbertElliott, LinkProfile

    link = dict(check_keys(where, link, LinkProfile))
    ge = link.get("gilbert_elliott")
    if ge is not None and not isinstance(ge, GilbertElliott):
        ge_where = f"{where}.gilbert_elliott"
        link["gilbert_elliott"] = _prefixed(ge_where, lambda: build(ge_where, GilbertElliott, ge, required=("p", "r")))
    return _prefixed(where, lambda: build(where, LinkProfile, link))


def _outages(o: Any, time_scale: Any) -> Any:
    from netem.outage import OutageSchedule, Window

    from .model import Outages

    if isinstance(o, Outages):
        return o
    o = dict(check_keys("World.outages", o, Outages))
    windows = o.get("windows", ())
    if not isinstance(windows, list | tuple):
        raise ConfigError("World.outages.windows", windows, 'a list of {start, duration, kind} tables')
    parsed = []
    for i, w in enumerate(windows):
        where = f"World.outages.windows[{i}]"
        if isinstance(w, Window):
            parsed.append(w)
        elif isinstance(w, list | tuple) and 2 <= len(w) <= 3:
            parsed.append(_prefixed(where, lambda w=w: Window(*w)))
        else:
            parsed.append(_prefixed(where, lambda w=w, where=where: build(where, Window, w,
                                                                          required=("start", "duration"))))
    o["windows"] = tuple(parsed)
    _prefixed("World.outages", lambda: OutageSchedule("access", o["windows"]))
    out = _prefixed("World.outages", lambda: build("World.outages", Outages, o))
    if isinstance(time_scale, int | float) and not isinstance(time_scale, bool) and time_scale > 0:
        # how often outages come in real seconds decides how many windows a run generates
        floor = 1 / (MAX_OUTAGES_PER_REAL_S * time_scale)
        if out.period_s and out.period_s < floor:
            raise ConfigError("World.outages.period_s", out.period_s,
                              f"0 (none) or at least {floor:g} field seconds at time_scale {time_scale:g} "
                              f"(at most {MAX_OUTAGES_PER_REAL_S:g} outages per real second)")
        if out.poisson_rate_per_s and out.poisson_rate_per_s / time_scale > MAX_OUTAGES_PER_REAL_S:
            raise ConfigError("World.outages.poisson_rate_per_s", out.poisson_rate_per_s,
                              f"at most {MAX_OUTAGES_PER_REAL_S * time_scale:g} per field second at "
                              f"time_scale {time_scale:g}")
    return out


def _prefixed(where: str, make) -> Any:
    """Run make(); a ConfigError from a nested dataclass gets the world's path in front."""
    try:
        return make()
    except ConfigError as e:
        field = e.field if e.field.startswith("World") else f"{where}.{e.field.split('.', 1)[-1]}"
        raise ConfigError(field, e.given, e.allowed) from None
    except (TypeError, ValueError, OverflowError) as e:
        raise ConfigError(where, None, f"valid values ({e})") from None


