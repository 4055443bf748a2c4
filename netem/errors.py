"""One clear line for bad input: which field, what was given, what is allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    def __init__(self, field: str, given: object, allowed: str):
        self.field, self.given, self.allowed = field, given, allowed
        super().__init__(f"{field}: got {given!r}; allowed {allowed}")


def check_range(field: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(field, value, f"a number in [{lo}, {hi}]{(' ' + unit) if unit else ''}")
    return value


def check_choice(field: str, value: object, choices: tuple) -> object:
    if value not in choices:
        raise ConfigError(field, value, "one of " + ", ".join(map(repr, choices)))
    return value
