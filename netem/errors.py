"""One clear line for bad input: which field, what was given, what is allowed."""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import NoReturn


class ConfigError(ValueError):
    def __init__(self, field: str, given: object, allowed: str):
        self.field, self.given, self.allowed = field, given, allowed
        super().__init__(f"{one_line(field)}: got {_show(given)}; allowed {one_line(allowed)}")


def one_line(text: str) -> str:
    """Text as it is when printable, else with its control characters escaped (a key of a
    hand-written file may hold a newline)."""
    text = str(text)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _show(value: object, limit: int = 200) -> str:
    """repr, on one line and cut short: a whole hand-written file may be the value."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's int-to-str digit limit
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_range(field: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(field, value, f"a number in [{lo}, {hi}]{(' ' + unit) if unit else ''}")
    return value


def check_choice(field: str, value: object, choices: tuple) -> object:
    if value not in choices:
        raise ConfigError(field, value, "one of " + ", ".join(map(repr, choices)))
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse whose every usage error is one line -- `prefix` + `--flag: got X; allowed Y`
    -- and exit status 2 (argparse prints the usage block first, which a script cannot
    parse). Subparsers made from it are OneLineParsers too. Non-finite numbers (nan, inf:
    float() accepts them) are refused for every `type=float` option."""

    prefix = "resetlab: error: "
    _TYPES = {"int": "an integer", "float": "a number"}

    def error(self, message: str) -> NoReturn:
        m = re.match(r"argument (\S+?)(?:/\S+)?: invalid (\w+) value: (.*)$", message)
        if m:
            message = f"{m[1]}: got {m[3]}; allowed {self._TYPES.get(m[2], 'a ' + m[2])}"
        m = re.match(r"argument (\S+?)(?:/\S+)?: invalid choice: (.*?) \(choose from (.*)\)$", message)
        if m:
            message = f"{m[1]}: got {m[2]}; allowed one of {m[3]}"
        m = re.match(r"the following arguments are required: ([^,]*)", message)
        if m:
            act = next((a for a in self._actions if m[1] in (a.dest, a.metavar, *a.option_strings)), None)
            choices = getattr(act, "choices", None)
            message = f"{m[1]}: got nothing; allowed " + \
                ("one of " + ", ".join(choices) if choices else "a value (required; see --help)")
        m = re.match(r"unrecognized arguments: (.*)$", message)
        if m:
            message = f"arguments: got {m[1]!r}; allowed the options in --help"
        print(self.prefix + " ".join(message.split()), file=sys.stderr)
        sys.exit(2)

    def parse_known_args(self, args=None, namespace=None):
        ns, extras = super().parse_known_args(args, namespace)
        for action in self._actions:
            value = getattr(ns, action.dest, None)
            values = value if isinstance(value, list) else [value]
            if action.type is float and any(isinstance(v, float) and not math.isfinite(v) for v in values):
                flag = action.option_strings[-1] if action.option_strings else action.dest
                self.error(f"{flag}: got {value!r}; allowed a finite number")
        return ns, extras
