"""Field-log analyzer: Claude Code session JSONL -> the field report's tables.

    python -m harness fieldlog PATH ... [--json] [--tz OFFSET_OR_NAME] [--strict]

Modules: reader (finding and streaming files, redaction to project labels), model (what one
record means), tables (aggregation and the definitions of chains, gaps and bursts), render
(text), cli (the subcommand), field (the field report's own figures, data/field-report.json).
See README.md in this folder.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import reader
from .tables import Analyzer, Zone, parse_zone

__all__ = ["Analyzer", "Zone", "analyze", "parse_zone"]


def analyze(paths: Iterable[str], zone: Zone | str | None = "UTC", strict: bool = False,
            max_line: int = reader.DEFAULT_MAX_LINE) -> dict:
    """Scan session files/folders (streamed, one file at a time) and return the report dict."""
    zone = zone if isinstance(zone, Zone) else parse_zone(zone)
    an = Analyzer(zone, strict=strict)
    for src in reader.discover(paths):
        an.add_file(src, lambda src=src: _lines(src.path, max_line))
    return an.report()


def _lines(path: str, max_line: int):
    with reader.open_binary(path) as f:
        yield from reader.iter_lines(f, max_line)
