"""Units of schema fields, declared where each field is: how a field-unit value becomes a lab value.

Every schema a world is made of (the origin's stream and plan conditions and actions, the
edge's policy, outages, the NAT, a probe's timings) tags each field that holds a time with
its unit in the dataclass field's metadata (``field(metadata=unit("s"))``), and scales
itself with ``scaled(obj, time_scale)``. Time scaling multiplies every duration by
``time_scale``; bytes never change; a rate per second is divided by it, so that every
ratio deciding an outcome (a read pace against a stall limit, a budget in bytes x seconds
against a request's size and length) is the same at any time scale.

    unit     meaning                          lab value
    s        seconds                          x time_scale
    ms       milliseconds (link delays)       x time_scale
    s/MB     seconds per 1e6 bytes            x time_scale
    B*s      bytes x seconds                  x time_scale
    B/s      bytes per second                 / time_scale
    1/s      events per second                / time_scale
"""

from __future__ import annotations

import dataclasses
from typing import Any

FACTORS = {"s": 1, "ms": 1, "s/MB": 1, "B*s": 1, "B/s": -1, "1/s": -1}  # power of time_scale


def unit(name: str) -> dict[str, str]:
    """Field metadata: ``field(default=..., metadata=unit("s"))``."""
    assert name in FACTORS, name
    return {"unit": name}


def scale_value(value: Any, unit_name: str, time_scale: float) -> Any:
    """One value (a number, None, or a list/tuple of numbers) in lab units."""
    if value is None or isinstance(value, bool):
        return value
    factor = time_scale ** FACTORS[unit_name]
    if isinstance(value, list | tuple):
        return type(value)(scale_value(v, unit_name, time_scale) for v in value)
    return value * factor


def timed_fields(cls: type) -> dict[str, str]:
    """{field name: unit} of a dataclass's fields that carry a time unit."""
    return {f.name: f.metadata["unit"] for f in dataclasses.fields(cls) if "unit" in f.metadata}


def lab_values(obj: Any, time_scale: float, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """{field: value in lab units} of the dataclass `obj`'s unit-tagged fields but `skip`
    (not validated again: a lab value may lie outside the field schema's range)."""
    return {name: scale_value(getattr(obj, name), u, time_scale)
            for name, u in timed_fields(type(obj)).items() if name not in skip}


def scaled(obj: Any, time_scale: float, **override: Any) -> Any:
    """A copy of the dataclass `obj` with every unit-tagged field in lab units (the
    others unchanged; `override` replaces fields that need more than a factor)."""
    return dataclasses.replace(obj, **lab_values(obj, time_scale, tuple(override)), **override)
