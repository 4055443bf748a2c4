"""JSON Lines files the lab writes itself (probes.jsonl, mitigations.jsonl, the origin's
log): read whole, blank lines skipped, a missing file is no records. Claude Code's session
files are not read here: harness/fieldlog streams those and counts malformed lines."""

from __future__ import annotations

import json


def read(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
