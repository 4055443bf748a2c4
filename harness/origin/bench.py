"""Origin benchmark: prints figures (it is not a timed test and never fails on a target).

    python -m harness.origin.bench [--json] [--repeat N] [--events N]
    python -m harness bench-origin [--json]          (once wired into harness/__main__.py)

Each figure runs against a real origin child process (``python -m harness origin``) over
loopback, with a blocking raw-socket client in this process, so the client never shares a
GIL or an event loop with the server:

    ingest_32mb_s      send a 32 MB (32 * 1024 * 1024 bytes) /v1/messages body on an open
                       HTTP/1.1 connection; seconds from the first byte sent to the first
                       response byte (median of --repeat)                 target <= 0.5 s
    sse_events_per_s   a stream of --events text deltas, no gaps, pings off, read by a raw
                       HTTP/1.1 client; events / seconds from the first to the last body
                       byte (median)                                      target >= 20000/s
    sse_events_per_s_h2c  the same over h2c (client window wide open)     target >= 20000/s
    startup_s          process start to the ready line of
                       ``python -m harness origin --listen 127.0.0.1:0`` (median) no target

Output: one line per figure, or with ``--json`` one JSON object per line with keys
``metric``, ``value``, ``unit``, ``target`` (target: a string such as "<= 0.5", or null).

Wiring a CLI subcommand: ``add_arguments(parser)`` then ``parser.set_defaults(func=run)``.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
import h2.settings

from .config import MAX_BODY_BYTES
from .runners import OriginProcess
from .testing import API_HEADERS


@dataclass
class Figure:
    metric: str
    value: float
    unit: str
    target: str | None  # "<= X" / ">= X" in `unit`, or None
    detail: str = ""

    def met(self) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target.split()
        return self.value <= float(bound) if op == "<=" else self.value >= float(bound)

    def to_json(self) -> dict:
        return {"metric": self.metric, "value": self.value, "unit": self.unit,
                "target": self.target}

    def line(self) -> str:
        verdict = {None: "", True: "  ok", False: "  MISSED"}[self.met()]
        target = f"  (target {self.target} {self.unit})" if self.target else ""
        return f"{self.metric:<24} {self.value:>12g} {self.unit:<9}{target}{verdict}  {self.detail}"


# --- request bodies ---------------------------------------------------------------------

def big_body(size: int = MAX_BODY_BYTES) -> bytes:
    """A /v1/messages body of exactly `size` bytes shaped like a long session.

    Many alternating user/assistant turns of ~4 KB text each, the last turn padded so the
    total is exact (the shape matters: parsing 8000 small objects costs more than one string).
    """
    head = b'{"model":"claude-bench","max_tokens":1024,"stream":true,"messages":['
    tail = b"]}"
    turn_text = ("lorem ipsum dolor sit amet " * 150)[:4000]
    turns, used = [], len(head) + len(tail)
    i = 0
    while True:
        role = "user" if i % 2 == 0 else "assistant"
        turn = json.dumps({"role": role, "content": [{"type": "text", "text": turn_text}]},
                          separators=(",", ":")).encode()
        if used + len(turn) + 1 + 200 > size:
            break
        turns.append(turn)
        used += len(turn) + 1
        i += 1
    role = "user" if i % 2 == 0 else "assistant"
    last = json.dumps({"role": role, "content": ""}, separators=(",", ":")).encode()
    pad = size - used - len(last)
    last = last[:-2] + b"x" * pad + b'"}'
    body = head + b",".join([*turns, last]) + tail
    assert len(body) == size, (len(body), size)
    return body


def stream_body() -> bytes:
    return json.dumps({"model": "claude-bench", "max_tokens": 1024, "stream": True,
                       "messages": [{"role": "user", "content": "hello"}]}).encode()


def _h1_head(port: int, length: int, extra: dict[str, str] | None = None) -> bytes:
    headers = {"host": f"127.0.0.1:{port}", **API_HEADERS, "content-length": str(length),
               **(extra or {})}
    lines = ["POST /v1/messages HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_to_close(sock: socket.socket, first: bytes, done: Callable[[bytes], bool]) -> bytes:
    buf = bytearray(first)
    while not done(buf):
        data = sock.recv(1 << 20)
        if not data:
            break
        buf += data
    return bytes(buf)


def _chunked_done(buf: bytes | bytearray) -> bool:
    return buf.endswith(b"\r\n0\r\n\r\n")


# --- figures ------------------------------------------------------------------------------

def bench_ingest(port: int, repeat: int) -> Figure:
    body = big_body()
    # A one-delta stream: the response itself costs next to nothing.
    head = _h1_head(port, len(body), {"x-resetlab-stream": '{"deltas": 1, "ping_interval": null}'})
    times = []
    for _ in range(repeat):
        with _connect(port) as sock:
            t0 = time.perf_counter()
            sock.sendall(head)
            sock.sendall(body)
            first = sock.recv(65536)
            times.append(time.perf_counter() - t0)
            if not first.startswith(b"HTTP/1.1 200 "):
                raise RuntimeError(f"32 MB body not accepted: {first[:200]!r}")
            _read_to_close(sock, first, _chunked_done)
    return Figure("ingest_32mb_s", round(statistics.median(times), 4), "s", "<= 0.5",
                  f"min {min(times):.3f} max {max(times):.3f} over {repeat}")


def _stream_cfg(events: int) -> str:
    return json.dumps({"deltas": events, "ping_interval": None, "gap": 0})


def _sse_h1_once(port: int, events: int) -> tuple[int, float]:
    body = stream_body()
    with _connect(port) as sock:
        sock.sendall(_h1_head(port, len(body), {"x-resetlab-stream": _stream_cfg(events)}) + body)
        first = sock.recv(1 << 20)
        t_first = time.perf_counter()
        data = _read_to_close(sock, first, _chunked_done)
        t_last = time.perf_counter()
    if not data.startswith(b"HTTP/1.1 200 ") or not _chunked_done(data):
        raise RuntimeError(f"stream did not complete: {data[:200]!r}")
    return data.count(b"event: "), t_last - t_first


def _sse_h2c_once(port: int, events: int) -> tuple[int, float]:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                 header_encoding="utf-8"))
    conn.initiate_connection()
    # A big window so flow control is not what is measured.
    conn.increment_flow_control_window(1 << 30)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: (1 << 31) - 1})
    sid = conn.get_next_available_stream_id()
    body = stream_body()
    conn.send_headers(sid, [(":method", "POST"), (":path", "/v1/messages"), (":scheme", "http"),
                            (":authority", f"127.0.0.1:{port}"), *API_HEADERS.items(),
                            ("x-resetlab-stream", _stream_cfg(events))])
    conn.send_data(sid, body, end_stream=True)
    n_events, t_first, t_last, ended = 0, None, None, False
    tail = b""
    with _connect(port) as sock:
        sock.sendall(conn.data_to_send())
        while not ended:
            raw = sock.recv(1 << 20)
            if not raw:
                break
            for ev in conn.receive_data(raw):
                if isinstance(ev, h2.events.DataReceived):
                    if t_first is None:
                        t_first = time.perf_counter()
                    chunk = tail + ev.data
                    n_events += chunk.count(b"event: ")
                    tail = chunk[-6:]
                    n_events -= tail.count(b"event: ")
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded):
                    t_last, ended = time.perf_counter(), True
                elif isinstance(ev, h2.events.StreamReset | h2.events.ConnectionTerminated):
                    raise RuntimeError(f"h2c stream failed: {ev}")
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    if not ended or t_first is None:
        raise RuntimeError("h2c stream did not complete")
    return n_events, t_last - t_first


def bench_sse(port: int, events: int, repeat: int, proto: str) -> Figure:
    once = _sse_h1_once if proto == "http/1.1" else _sse_h2c_once
    rates, counts = [], set()
    for _ in range(repeat):
        n, seconds = once(port, events)
        counts.add(n)
        rates.append(n / seconds)
    expected = events + 6  # message_start, block start, ping, deltas, block stop, delta, stop
    if counts != {expected}:
        raise RuntimeError(f"expected {expected} events per stream, counted {sorted(counts)}")
    name = "sse_events_per_s" + ("" if proto == "http/1.1" else "_h2c")
    return Figure(name, round(statistics.median(rates)), "events/s", ">= 20000",
                  f"{proto}, {expected} events, min {min(rates):.0f} max {max(rates):.0f}")


def bench_startup(repeat: int) -> Figure:
    times = []
    for _ in range(repeat):
        proc = OriginProcess(["--listen", "127.0.0.1:0"])
        t0 = time.perf_counter()
        proc.start()
        times.append(time.perf_counter() - t0)
        proc.stop()
    return Figure("startup_s", round(statistics.median(times), 4), "s", None,
                  f"min {min(times):.3f} max {max(times):.3f} over {repeat}")


# --- command line -------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per figure: metric, value, unit, target")
    parser.add_argument("--repeat", type=int, default=5, metavar="N",
                        help="runs per figure; the median is reported (default %(default)s)")
    parser.add_argument("--events", type=int, default=50_000, metavar="N",
                        help="text deltas in the streaming figure (default %(default)s)")
    return parser


def run(args: argparse.Namespace) -> int:
    def emit(fig: Figure) -> None:
        print(json.dumps(fig.to_json()) if args.json else fig.line(), flush=True)

    repeat = max(1, args.repeat)
    with OriginProcess(["--listen", "127.0.0.1:0"]) as origin:
        emit(bench_ingest(origin.port, repeat))
        emit(bench_sse(origin.port, args.events, max(1, repeat // 2), "http/1.1"))
        emit(bench_sse(origin.port, args.events, max(1, repeat // 2), "h2c"))
    emit(bench_startup(repeat))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.origin.bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
