"""``python -m harness fieldlog PATH ... [--json] [--tz OFFSET_OR_NAME] [--strict]``

Reads Claude Code session JSONL - a folder such as ~/.claude/projects (recursively, *.jsonl)
or single files - streaming each file line by line, and prints the field report's tables:
api_error records by cause code, by version, by project (redacted: project-A, project-B, ...
in order of first appearance), by session-file size bucket, the retry-attempt recovery curve
and failure chains, gaps to the preceding event, per UTC day / weekday and local hour, bursts,
synthetic "API Error" turns and malformed lines. --json prints one JSON object instead
(schema/fieldlog.schema.json). No message content, path or file name is ever printed.

--tz: where "local hour" is taken: an offset (-05:00, -5, UTC+0530), an IANA name
(America/Chicago), UTC, or "local" (this machine's zone, the default). Write a negative
offset as --tz=-05:00 or --tz UTC-5 (argparse takes "-05:00" alone for an option).
Bad arguments: one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import analyze, reader, render
from .tables import parse_zone


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fieldlog", help="analyze Claude Code session JSONL (api_error records)",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a folder (searched recursively for *.jsonl) or a session file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tz", default="local", metavar="OFFSET_OR_NAME",
                   help="zone of the per-hour table (default: this machine's local zone)")
    p.add_argument("--strict", action="store_true",
                   help="json-parse every line (exact malformed count; slower)")
    p.add_argument("--max-line-bytes", type=int, default=reader.DEFAULT_MAX_LINE, metavar="N",
                   help="longer lines are not kept whole, only classified (default %(default)s)")
    p.set_defaults(func=run)
    return p


def _err(msg: str) -> int:
    print(f"resetlab fieldlog: error: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        zone = parse_zone(args.tz)
    except ValueError as exc:
        return _err(f"--tz: {exc}")
    if args.max_line_bytes < 1024:
        return _err(f"--max-line-bytes: got {args.max_line_bytes}; allowed an integer >= 1024")
    try:
        paths = reader.check_paths(args.paths)
    except reader.MissingPath as exc:
        return _err(str(exc))  # the position only: the path itself is never printed
    rep = analyze(paths, zone, strict=args.strict, max_line=args.max_line_bytes)
    if args.json:
        print(json.dumps(rep, sort_keys=False))
    else:
        sys.stdout.write(render.render(rep))
    return 0
