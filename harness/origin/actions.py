"""Fault actions, Toxiproxy-style: one tiny class per action, found by name in ACTIONS.

An action declares its parameters (validated into ``self.params``), where it makes sense
(``applies``), whether it writes bytes (``sends``: such actions wait for an event boundary
so they never split an SSE event), and ``run(inj)``, which drives the exchange through the
injector. Terminal actions raise ``Terminated``; the others change how the rest of the
response is produced and return.

To add an action: subclass Action, set ``name``/``params``, implement ``run``, decorate
with ``@register``. The plan parser picks it up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import h2.errors

from harness.http.exchange import Terminated
from harness.units import scale_value

from .responses import error_body, send_error
from .validate import (
    SpecError,
    check_bool,
    check_int,
    check_number,
    check_object,
    check_str,
    fail,
)

if TYPE_CHECKING:
    from .injector import Injector

REQUIRED = object()
H2 = ("h2", "h2c")


@dataclass(frozen=True)
class Param:
    kind: str  # int | number | str | bool | h2code | headers | status
    default: Any = REQUIRED
    unit: str | None = None  # a time unit (harness/units.py): the parameter scales with time_scale


class Action:
    name: ClassVar[str]
    params_schema: ClassVar[dict[str, Param]] = {}
    sends: ClassVar[bool] = False
    terminal: ClassVar[bool] = True

    def __init__(self, params: dict[str, Any]):
        self.params = params

    @classmethod
    def parse(cls, path: str, raw: Any) -> Action:
        if raw is None:
            raw = {}
        check_object(path, raw, cls.params_schema)
        params = {}
        for key, spec in cls.params_schema.items():
            if key in raw:
                params[key] = _check_param(f"{path}.{key}", spec.kind, raw[key])
            elif spec.default is REQUIRED:
                raise SpecError(f"{path}.{key}: missing (required by {cls.name})")
            elif spec.default is not None:
                params[key] = spec.default
        cls.check(path, params)
        return cls(params)

    @classmethod
    def check(cls, path: str, params: dict[str, Any]) -> None:
        """Cross-parameter validation hook."""

    def applies(self, inj: Injector) -> bool:
        return True

    async def run(self, inj: Injector) -> None:
        raise NotImplementedError

    def scaled(self, time_scale: float) -> Action:
        """The same action with its timed parameters in lab units (harness/units.py)."""
        schema = self.params_schema
        return type(self)({k: scale_value(v, schema[k].unit, time_scale) if schema[k].unit else v
                           for k, v in self.params.items()})

    def to_json(self) -> dict:
        return {self.name: dict(self.params)}

    # Value semantics, so parsed plans compare equal (parse -> serialize -> parse).
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return type(self) is type(other) and self.params == other.params

    def __hash__(self) -> int:
        return hash((self.name, json.dumps(self.params, sort_keys=True)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


def _check_param(path: str, kind: str, value: Any) -> Any:
    if kind == "int":
        return check_int(path, value, lo=0)
    if kind == "number":
        return check_number(path, value, positive=True)
    if kind == "str":
        return check_str(path, value)
    if kind == "bool":
        return check_bool(path, value)
    if kind == "status":
        return check_int(path, value, lo=400, hi=599)
    if kind == "h2code":
        # Accept the RFC 9113 name ("INTERNAL_ERROR") or any 32-bit integer.
        if isinstance(value, str) and value in h2.errors.ErrorCodes.__members__:
            return int(h2.errors.ErrorCodes[value])
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
            return value
        names = ", ".join(h2.errors.ErrorCodes.__members__)
        raise fail(path, value, "is not an HTTP/2 error code", f"0..4294967295 or {names}")
    if kind == "headers":
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise fail(path, value, "is not an object of header values", '{"name": "value"}')
        return {str(k).lower(): str(v) for k, v in value.items()}
    raise AssertionError(kind)


ACTIONS: dict[str, type[Action]] = {}


def register(cls: type[Action]) -> type[Action]:
    ACTIONS[cls.name] = cls
    return cls


@register
class TcpRst(Action):
    name = "tcp_rst"

    async def run(self, inj: Injector) -> None:
        inj.ex.tcp_rst()
        raise Terminated(self.name)


@register
class Fin(Action):
    name = "fin"

    async def run(self, inj: Injector) -> None:
        await inj.ex.fin()
        raise Terminated(self.name)


@register
class H2RstStream(Action):
    name = "h2_rst_stream"
    params_schema = {"code": Param("h2code", 2)}  # INTERNAL_ERROR

    def applies(self, inj: Injector) -> bool:
        return inj.ex.protocol in H2

    async def run(self, inj: Injector) -> None:
        await inj.ex.h2_rst_stream(self.params["code"])
        raise Terminated(self.name)


@register
class H2Goaway(Action):
    name = "h2_goaway"
    params_schema = {"code": Param("h2code", 0), "last_stream_id": Param("int", None)}

    def applies(self, inj: Injector) -> bool:
        return inj.ex.protocol in H2

    async def run(self, inj: Injector) -> None:
        await inj.ex.h2_goaway(self.params["code"], self.params.get("last_stream_id"))
        raise Terminated(self.name)


@register
class Stall(Action):
    """Send nothing (not even pings, not read the upload) for a while, then go on."""

    name = "stall"
    terminal = False
    params_schema = {"seconds": Param("number", None, "s"), "forever": Param("bool", None)}

    @classmethod
    def check(cls, path: str, params: dict[str, Any]) -> None:
        if ("seconds" in params) == bool(params.get("forever")):
            raise fail(path, params, "must give exactly one of seconds, forever",
                       '{"seconds": S} or {"forever": true}')

    async def run(self, inj: Injector) -> None:
        await inj.wait(math.inf if self.params.get("forever") else self.params["seconds"])
        inj.restart_ping_timer()  # resume with the next event, not a ping burst


@register
class SseError(Action):
    """The API's mid-stream error event, then a clean end of the response."""

    name = "sse_error"
    sends = True
    params_schema = {"type": Param("str", "overloaded_error"), "message": Param("str", None)}

    def applies(self, inj: Injector) -> bool:
        return inj.phase == "stream" and bool(inj.streaming)

    async def run(self, inj: Injector) -> None:
        body = error_body(self.params["type"], self.params.get("message"))
        body.pop("request_id", None)  # the stream's error event has no request_id
        await inj.send_event("error", body, scripted=False)
        await inj.ex.end(inj.until)
        raise Terminated(self.name)


@register
class HttpStatus(Action):
    name = "http_status"
    sends = True
    params_schema = {"status": Param("status"), "type": Param("str", None),
                     "message": Param("str", None), "headers": Param("headers", None)}

    def applies(self, inj: Injector) -> bool:
        return not inj.ex.headers_sent

    async def run(self, inj: Injector) -> None:
        p = self.params
        await send_error(inj, p["status"], p.get("type"), p.get("message"), p.get("headers"))
        raise Terminated(self.name)


@register
class Drip(Action):
    """From now on send the response at most bytes_per_second (per request)."""

    name = "drip"
    terminal = False
    params_schema = {"bytes_per_second": Param("number", REQUIRED, "B/s")}

    async def run(self, inj: Injector) -> None:
        inj.drip_rate = self.params["bytes_per_second"]
