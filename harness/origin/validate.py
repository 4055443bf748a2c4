"""Validation helpers shared by fault plans and stream configs.

Every problem is reported as ONE line that names the field (a JSON path such as
``plan[0].when.phase``), the offending value (as JSON) and what is allowed, because
these configs are typed by hand on a command line or in a test header.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any


class SpecError(ValueError):
    """A plan or stream config is invalid. ``str(err)`` is a single line."""


def show(value: Any) -> str:
    """Render a value as compact JSON (falls back to repr) for error messages."""
    try:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError):
        try:
            text = repr(value)
        except ValueError:  # an int past Python's int-to-str digit limit
            text = f"<{type(value).__name__}>"
    return text if len(text) <= 120 else text[:117] + "..."


def fail(path: str, value: Any, problem: str, allowed: str) -> SpecError:
    from netem.errors import one_line

    return SpecError(one_line(f"{path}: {show(value)} {problem} (allowed: {allowed})"))


def load_json(text: str, what: str) -> Any:
    """Parse JSON text, turning syntax errors into a one-line SpecError."""
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or an integer literal of > 4300 digits
        raise SpecError(f"{what}: not valid JSON: {exc} (allowed: valid JSON)") from None
    except RecursionError:
        raise SpecError(f"{what}: not valid JSON: nested too deeply (allowed: valid JSON)") from None


def check_object(path: str, value: Any, allowed_keys: Iterable[str]) -> dict:
    allowed = sorted(allowed_keys)
    if not isinstance(value, dict):
        raise fail(path, value, "is not an object", "an object with keys " + ", ".join(allowed))
    for key in value:
        if key not in allowed:
            raise fail(f"{path}.{key}", value[key], f"is under unknown key {key!r}", ", ".join(allowed))
    return value


def check_int(path: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    desc = _range_desc("integer", lo, hi)
    # bool is an int subclass in Python; `true` is never a sensible count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, value, "is not an integer", desc)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise fail(path, value, "is out of range", desc)
    return value


def check_number(path: str, value: Any, *, lo: float | None = 0.0, positive: bool = False) -> float:
    desc = "number > 0" if positive else _range_desc("number", lo, None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(path, value, "is not a finite number", desc)
    try:
        number = float(value)
    except OverflowError:  # an integer too big for a float (e.g. 10**400 in the JSON)
        raise fail(path, value, "is not a finite number", desc) from None
    if not math.isfinite(number):
        raise fail(path, value, "is not a finite number", desc)
    if (positive and number <= 0) or (lo is not None and number < lo):
        raise fail(path, value, "is out of range", desc)
    return number


def check_str(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fail(path, value, "is not a non-empty string", "a non-empty string")
    return value


def check_bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(path, value, "is not a boolean", "true, false")
    return value


def check_choice(path: str, value: Any, choices: Iterable[str]) -> str:
    options = list(choices)
    if value not in options:
        raise fail(path, value, "is not allowed", ", ".join(options))
    return value


def _range_desc(kind: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{kind} {lo}..{hi}"
    if lo is not None:
        return f"{kind} >= {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


def text_or_file(value: str, what: str) -> str:
    """Plans and configs are JSON text, or the path of a file holding it."""
    if value.lstrip().startswith(("[", "{")):
        return value
    try:
        with open(value, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise SpecError(f"{what}: {value!r} is neither JSON nor a readable file ({exc.strerror})") from None


def parse_listen(value: str, flag: str = "--listen") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SpecError(f"{flag}: {value!r} is not HOST:PORT (allowed: e.g. 127.0.0.1:0, [::1]:8123)")
    return host.strip("[]") or "127.0.0.1", int(port)
