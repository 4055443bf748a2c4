"""The field report's own figures (data/field-report.json), for lab-vs-field comparisons.

Each figure is ``{"value": ..., "source": "<where in the report>", "note"?: ...}``; keys and
shapes follow ``python -m harness fieldlog --json`` where the report has the same table.
"""

from __future__ import annotations

import json
import os

from netem.errors import ConfigError

PATH = os.path.join(os.path.dirname(__file__), "..", "..", "data", "field-report.json")


WHERE = "data/field-report.json"
# the figures lab-vs-field reads (compare.field_signature), and the row keys it reads in them
ROWS = {"retry_curve": ("attempt", "triggered", "recovered"), "size_buckets": ("bucket", "errors")}


def load(path: str | None = None) -> dict:
    """The document, checked; a bad one is one ConfigError line naming the figure."""
    try:
        with open(path or PATH, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise ConfigError(WHERE, path or PATH, f"a readable file ({e.strerror})") from None
    except (ValueError, RecursionError) as e:
        raise ConfigError(WHERE, path or PATH, f"valid JSON ({str(e)[:200]})") from None
    return validate(doc)


def validate(doc) -> dict:
    figures = doc.get("figures") if isinstance(doc, dict) else None
    if not isinstance(figures, dict):
        raise ConfigError(f"{WHERE} figures", figures, 'an object of {"name": {"value": ..., "source": ...}}')
    for name, fig in figures.items():
        if not isinstance(fig, dict) or "value" not in fig:
            raise ConfigError(f"{WHERE} figures.{name}", fig, 'an object with "value" and "source"')
    for name in (*ROWS, "by_code"):
        if name not in figures:
            raise ConfigError(f"{WHERE} figures.{name}", None, "a figure lab-vs-field compares with")
    for name, keys in ROWS.items():
        rows = figures[name]["value"]
        if not isinstance(rows, list):
            raise ConfigError(f"{WHERE} figures.{name}.value", rows, "a list of rows")
        for i, row in enumerate(rows):
            where = f"{WHERE} figures.{name}.value[{i}]"
            if not isinstance(row, dict) or any(k not in row for k in keys):
                raise ConfigError(where, row, "an object with " + ", ".join(keys))
            for k in keys:
                if k != "bucket" and (isinstance(row[k], bool) or not isinstance(row[k], int) or row[k] < 0):
                    raise ConfigError(f"{where}.{k}", row[k], "an integer >= 0")
    codes = figures["by_code"]["value"]
    if not isinstance(codes, dict) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                          for v in codes.values()):
        raise ConfigError(f"{WHERE} figures.by_code.value", codes, "an object of code: count (integers >= 0)")
    return doc


def figure(name: str, path: str | None = None):
    """The value of one figure, e.g. ``figure("retry_curve")``."""
    figures = load(path)["figures"]
    if name not in figures:
        raise ConfigError(f"{WHERE} figures.{name}", None, "a figure of the field report: " + ", ".join(figures))
    return figures[name]["value"]
