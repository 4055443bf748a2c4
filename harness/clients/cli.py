"""``python -m harness client NAME``: run one probe with a client and print its record.

    python -m harness client NAME --base-url URL [--size BYTES] [--protocol http1|h2|h2c]
        [--keepalive SECONDS] [--max-retries N] [--no-stream] [--timeout S]
        [--read-pace BPS] [--read-pause AFTER:SECONDS]... [--h2-window N] [--canary]
        [--ca PATH] [--model M] [--max-tokens N] [--api-key-env VAR]
        [--lab-stream JSON|FILE] [--lab-plan JSON|FILE] [--extra JSON|FILE]

NAME is a runner from harness.clients.registry.RUNNERS (raw, python-sdk, node-sdk, curl,
claude-code). BYTES may end in K or M (x1024, x1024*1024). The API key is read from the
variable named by --api-key-env (none by default: the lab key is sent) and never printed.

Prints the ProbeRecord as exactly one JSON line on stdout and exits 0 whatever the outcome
(a reset is a measurement, not an error). Bad input: one line on stderr,
``resetlab client: error: <field>: got <value>; allowed <what>``, exit status 2. A runner
that cannot run at all (e.g. its program is missing): one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any, NoReturn

from netem.errors import ConfigError, OneLineParser

from .probe import PROTOCOLS, Probe
from .registry import RUNNERS, runner

PREFIX = "resetlab client: error: "


def _fail(field: str, given: Any, allowed: str) -> NoReturn:
    raise ConfigError(field, given, allowed)


class _OneLineParser(OneLineParser):
    """Every usage error is one line and exit status 2; unknown arguments name themselves."""

    prefix = PREFIX

    def parse_known_args(self, args=None, namespace=None):
        ns, extras = super().parse_known_args(args, namespace)
        if extras:  # would otherwise reach the top-level parser's multi-line error
            self.error(str(ConfigError("arguments", " ".join(extras), "the options in --help")))
        return ns, extras


def add_parser(subparsers) -> argparse.ArgumentParser:
    saved = subparsers._parser_class
    subparsers._parser_class = _OneLineParser
    try:
        p = subparsers.add_parser("client", help="run one probe with a client, print its record",
                                  description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    finally:
        subparsers._parser_class = saved
    # Values are taken as text and checked here, so bad input gets the field/got/allowed line.
    p.add_argument("name", nargs="?", metavar="NAME", help="one of " + ", ".join(RUNNERS))
    p.add_argument("--base-url", metavar="URL", help="e.g. http://127.0.0.1:8080 (required)")
    p.add_argument("--size", metavar="BYTES", default="1024", help="request body bytes (default 1024)")
    p.add_argument("--protocol", metavar="P", default="http1", help="http1 | h2 (TLS) | h2c")
    p.add_argument("--keepalive", metavar="SECONDS", help="TCP keepalive idle seconds")
    p.add_argument("--max-retries", metavar="N", default="0", help="the client's own retries")
    p.add_argument("--no-stream", action="store_true", help="ask for a non-streaming response")
    p.add_argument("--timeout", metavar="S", default="60", help="client timeout seconds (default 60)")
    p.add_argument("--read-pace", metavar="BPS", help="raw: read at most this many bytes/s")
    p.add_argument("--read-pause", metavar="AFTER:SECONDS", action="append", default=[],
                   help="raw: stop reading AFTER s into the request for SECONDS (repeatable)")
    p.add_argument("--h2-window", metavar="N", help="raw: our HTTP/2 initial window (bytes)")
    p.add_argument("--canary", action="store_true", help="raw: hold an idle second connection")
    p.add_argument("--ca", metavar="PATH", help="trust this CA (PEM) for TLS")
    p.add_argument("--model", metavar="M", help="model name in the request body")
    p.add_argument("--max-tokens", metavar="N", help="max_tokens in the request body")
    p.add_argument("--api-key-env", metavar="VAR", help="variable holding a real API key (default: none -- the lab key is sent)")
    p.add_argument("--lab-stream", metavar="JSON", help="mock only: x-resetlab-stream (object)")
    p.add_argument("--lab-plan", metavar="JSON", help="mock only: x-resetlab-plan (list of rules)")
    p.add_argument("--extra", metavar="JSON", help="more Probe fields (object): seed, idle_timeout, headers, ...")
    p.set_defaults(func=run)
    return p


# --- value checks ---------------------------------------------------------------------------

def _int(flag: str, text: str, allowed: str, suffixes: bool = False) -> int:
    raw, mult = text.strip(), 1
    if suffixes and raw[-1:].upper() in ("K", "M"):
        mult = 1024 if raw[-1].upper() == "K" else 1024 * 1024
        raw = raw[:-1]
    try:
        return int(raw) * mult
    except ValueError:
        _fail(flag, text, allowed)


def _float(flag: str, text: str, allowed: str) -> float:
    try:
        value = float(text)
    except ValueError:
        _fail(flag, text, allowed)
    if value != value or value in (float("inf"), float("-inf")):
        _fail(flag, text, allowed)
    return value


def _json(flag: str, text: str, kind: type, allowed: str) -> Any:
    if not text.lstrip().startswith(("[", "{")):
        try:
            with open(text, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            _fail(flag, text, allowed + " as JSON text or a readable file")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        _fail(flag, text if len(text) < 100 else text[:97] + "...", allowed + " as valid JSON")
    if not isinstance(value, kind):
        _fail(flag, value, allowed)
    return value


def _pause(text: str) -> tuple[float, float]:
    allowed = "AFTER:SECONDS, two numbers >= 0 (e.g. 2:5)"
    after, sep, seconds = text.partition(":")
    if not sep:
        _fail("--read-pause", text, allowed)
    a, s = _float("--read-pause", after, allowed), _float("--read-pause", seconds, allowed)
    if a < 0 or s < 0:
        _fail("--read-pause", text, allowed)
    return a, s


def _mock_header(flag: str, value: Any) -> None:
    """The mock origin would refuse a bad plan or stream with a 400: say so before sending."""
    from harness.origin.plan import parse_plan
    from harness.origin.sse import parse_stream_spec
    from harness.origin.validate import SpecError

    try:
        parse_plan(value, flag) if flag == "--lab-plan" else parse_stream_spec(value, where=flag)
    except SpecError as e:
        field, _, rest = str(e).partition(": ")
        raise ConfigError(field, rest.split(" (allowed: ")[0], rest.partition(" (allowed: ")[2].rstrip(")")) \
            from None


def probe_from_args(args: argparse.Namespace) -> tuple[str, Probe]:
    """Check the arguments; ConfigError names the flag for anything wrong."""
    if args.name not in RUNNERS:
        _fail("NAME", args.name, "one of " + ", ".join(RUNNERS))
    if not args.base_url:
        _fail("--base-url", args.base_url, "an http:// or https:// URL (required)")
    if args.protocol not in PROTOCOLS:
        _fail("--protocol", args.protocol, "one of " + ", ".join(PROTOCOLS))
    kw: dict[str, Any] = {
        "base_url": args.base_url,
        "size": _int("--size", args.size, "a whole number of bytes, optionally with K or M", True),
        "stream": not args.no_stream,
        "protocol": args.protocol,
        "max_retries": _int("--max-retries", args.max_retries, "a whole number 0..100"),
        "timeout": _float("--timeout", args.timeout, "seconds, a number > 0"),
        "canary": args.canary,
        "ca_path": args.ca,
    }
    if args.keepalive is not None:
        kw["keepalive"] = _float("--keepalive", args.keepalive, "seconds, a number in [1, 7200]")
    if args.read_pace is not None:
        kw["read_pace"] = _float("--read-pace", args.read_pace, "bytes per second, a number >= 1")
    if args.read_pause:
        kw["read_pauses"] = tuple(_pause(p) for p in args.read_pause)
    if args.h2_window is not None:
        kw["h2_window"] = _int("--h2-window", args.h2_window, "bytes, 1..2147483647")
    if args.model is not None:
        kw["model"] = args.model
    if args.max_tokens is not None:
        kw["max_tokens"] = _int("--max-tokens", args.max_tokens, "a whole number >= 1")
    if args.api_key_env is not None:
        kw["api_key_env"] = args.api_key_env
    if args.lab_stream is not None:
        kw["lab_stream"] = _json("--lab-stream", args.lab_stream, dict, "a JSON object")
        _mock_header("--lab-stream", kw["lab_stream"])
    if args.lab_plan is not None:
        kw["lab_plan"] = _json("--lab-plan", args.lab_plan, list, "a JSON list of rules")
        _mock_header("--lab-plan", kw["lab_plan"])
    if args.extra is not None:  # more of the Probe's typed fields (seed, idle_timeout, headers, mode, ...)
        extra = _json("--extra", args.extra, dict, "a JSON object")
        known = {f.name for f in fields(Probe)} - set(kw) - {"origin_records"}
        for key, value in extra.items():
            if key not in known:
                _fail(f"--extra.{key}", value, "a Probe field: " + ", ".join(sorted(known)))
            kw[key] = tuple(value) if key == "wrap" and isinstance(value, list) else value
    try:
        probe = Probe(**kw)
    except ConfigError as exc:
        field = exc.field
        if field.startswith("Probe."):
            field = "--" + field[len("Probe."):].replace("_", "-")
        raise ConfigError(field, exc.given, exc.allowed) from None
    if args.name == "raw":
        from .raw import Target

        try:
            Target.from_probe(probe)
        except ConfigError as exc:
            raise ConfigError("--" + exc.field.split(".")[-1].replace("_", "-"), exc.given,
                              exc.allowed) from None
    return args.name, probe


def run(args: argparse.Namespace) -> int:
    try:
        name, probe = probe_from_args(args)
    except ConfigError as exc:
        print(PREFIX + str(exc), file=sys.stderr)
        return 2
    try:
        record = runner(name)(probe)
    except ConfigError as exc:
        print(PREFIX + str(exc), file=sys.stderr)
        return 2
    except (OSError, RuntimeError, ImportError) as exc:  # the client itself could not run
        print(f"{PREFIX}{name}: {type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    print(record.to_json(), flush=True)
    return 0
