"""``python -m harness edge``: run an edge (built-in, nginx or haproxy) until SIGINT/SIGTERM.

When ready it prints one line: ``resetlab edge listening on <URL> impl=<impl>`` (the URL
is the 5th word, as for the origin). Bad input gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

import trio

from harness.origin.validate import SpecError, load_json, parse_listen, text_or_file
from netem.errors import ConfigError

from .policy import EdgePolicy

IMPLS = ("builtin", "nginx", "haproxy")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("edge", help="run an edge proxy from an EdgePolicy", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    p.add_argument("--upstream", required=True, metavar="HOST:PORT", help="the origin")
    p.add_argument("--impl", default="builtin", choices=IMPLS)
    p.add_argument("--policy", metavar="POLICY", help="EdgePolicy as JSON text or a file path")
    p.add_argument("--log", metavar="PATH", help="built-in edge: append its request log (JSONL) here")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        listen = parse_listen(args.listen)
        upstream = parse_listen(args.upstream, "--upstream")
        policy = _policy(args.policy) if args.policy else EdgePolicy()
        if args.impl != "builtin" and listen[1] == 0:
            raise SpecError(f"--listen: {args.listen!r} has port 0 (allowed: a fixed port for {args.impl})")
    except (SpecError, ConfigError, json.JSONDecodeError, TypeError) as exc:
        print(f"resetlab edge: error: {exc}", file=sys.stderr)
        return 2
    if args.impl == "builtin":
        trio.run(_builtin, policy, listen, upstream, args.log)
    else:
        _real(args.impl, policy, listen, upstream)
    return 0


def _policy(text: str) -> EdgePolicy:
    """--policy as JSON text or a file; every error names --policy (or --policy.<field>)."""
    d = load_json(text_or_file(text, "--policy"), "--policy")
    if not isinstance(d, dict):
        raise ConfigError("--policy", d, "an EdgePolicy as a JSON object")
    try:
        return EdgePolicy.from_dict(d)
    except ConfigError as e:
        raise ConfigError("--policy." + e.field.split(".", 1)[-1], e.given, e.allowed) from None
    except TypeError as e:
        raise ConfigError("--policy", d, f"EdgePolicy fields ({e})") from None


async def _builtin(policy, listen, upstream, log) -> None:
    from .builtin import serve_edge

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(serve_edge, policy, listen, upstream, log)
            print(f"resetlab edge listening on {info.url} impl=builtin", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


def _real(impl, policy, listen, upstream) -> None:
    from .real import RealEdge

    got = []
    signal.signal(signal.SIGTERM, lambda *a: got.append(1))
    with RealEdge(impl, policy, f"{listen[0]}:{listen[1]}", f"{upstream[0]}:{upstream[1]}") as edge:
        print(f"resetlab edge listening on {edge.url} impl={impl}", flush=True)
        try:
            while not got and edge.proc.poll() is None:
                signal.sigtimedwait([signal.SIGINT, signal.SIGTERM], 0.5)
        except KeyboardInterrupt:
            pass
