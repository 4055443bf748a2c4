"""The field report's own figures (data/field-report.json), for lab-vs-field comparisons.

Each figure is ``{"value": ..., "source": "<where in the report>", "note"?: ...}``; keys and
shapes follow ``python -m harness fieldlog --json`` where the report has the same table.
"""

from __future__ import annotations

import json
import os

PATH = os.path.join(os.path.dirname(__file__), "..", "..", "data", "field-report.json")


def load(path: str | None = None) -> dict:
    with open(path or PATH, encoding="utf-8") as f:
        return json.load(f)


def figure(name: str, path: str | None = None):
    """The value of one figure, e.g. ``figure("retry_curve")``."""
    return load(path)["figures"][name]["value"]
