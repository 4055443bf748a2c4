"""``python -m harness origin``: run the mock Messages API origin until SIGINT/SIGTERM.

When it is ready it prints exactly one line on stdout, then nothing else:

    resetlab origin listening on <URL>[ ca=<CA PEM path>][ log=<request log path>]

The URL is the 5th whitespace-separated word (``line.split()[4]``), e.g.
``http://127.0.0.1:8123`` (the real port when --listen asks for port 0); the optional
key=value words follow. ``config.parse_ready_line`` parses it. Bad input (plan, stream
config, listen address) gives one line on stderr, ``resetlab origin: error: ...``, and
exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys

import trio

from .config import MAX_BODY_BYTES, OriginConfig
from .server import serve_origin
from .sse import parse_stream_spec
from .validate import SpecError, parse_listen, text_or_file


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("origin", help="run the mock Messages API origin",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                   help="address to listen on; port 0 picks a free port (default %(default)s)")
    p.add_argument("--tls", action="store_true", help="serve TLS with a fresh test CA (ALPN h2, http/1.1)")
    p.add_argument("--alpn", default="h2,http/1.1", help="ALPN protocols offered with --tls")
    p.add_argument("--ca-file", metavar="PATH", help="where to write the CA PEM (default: a temp dir)")
    p.add_argument("--no-h2c", action="store_true", help="refuse HTTP/2 prior knowledge in cleartext")
    p.add_argument("--plan", metavar="PLAN", help="fault plan: JSON text or a file path")
    p.add_argument("--stream", metavar="CONFIG", help="default stream config: JSON text or a file path")
    p.add_argument("--ping-interval", type=float, metavar="S",
                   help="seconds of silence before a ping (0 = never; default 30)")
    p.add_argument("--log", metavar="PATH", help="append the request log (JSONL) here")
    p.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, metavar="N",
                   help="bigger request bodies get 413 (default %(default)s)")
    p.add_argument("--no-auth", action="store_true", help="do not require x-api-key")
    p.set_defaults(func=run)
    return p


def config_from_args(args: argparse.Namespace) -> OriginConfig:
    host, port = parse_listen(args.listen)
    stream = parse_stream_spec(text_or_file(args.stream, "--stream"), where="--stream") \
        if args.stream else parse_stream_spec({})
    if args.ping_interval is not None:
        stream = parse_stream_spec({"ping_interval": args.ping_interval}, stream, "--ping-interval")
    plan = ()
    if args.plan:
        from .plan import parse_plan

        plan = parse_plan(text_or_file(args.plan, "--plan"), "--plan")
    alpn = tuple(a.strip() for a in args.alpn.split(",") if a.strip())
    return OriginConfig(host=host, port=port, tls=args.tls, alpn=alpn, h2c=not args.no_h2c,
                        ca_path=args.ca_file, plan=plan, stream=stream, log_path=args.log,
                        max_body_bytes=args.max_body_bytes, require_api_key=not args.no_auth)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except SpecError as exc:
        print(f"resetlab origin: error: {exc}", file=sys.stderr)
        return 2
    try:
        trio.run(_main, config)
    except (OSError, BaseExceptionGroup) as exc:  # e.g. address in use
        err = _oserror(exc)
        if err is None:
            raise
        print(f"resetlab origin: error: {args.listen}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


async def _main(config: OriginConfig) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(serve_origin, config)
            print(info.ready_line(), flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()
    sys.stdout.flush()


def _oserror(exc: BaseException) -> OSError | None:
    """The OSError inside exc (newer trio wraps task errors in exception groups)."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _oserror(inner)
            if found is not None:
                return found
    return None
