"""One cell of the fidelity matrix: one real client meets one wire event, under a packet tap.

The cell runs in a small world (`WORLDS`: the origin straight behind the NAT router, no edge;
the same with a 1 s NAT timeout; or an edge with a 1 s budget in front of the origin) from the client's namespace, with the tap capturing the
client's connections whole (harness.wire). What it keeps: the client's own label and
message, the wire's label and exchanges, the record's (wire-preferred) label, how many
requests the client made and how far apart, whether it recovered, and for Claude Code its
api_error records (retryAttempt, cause.code) and whether it fell back to non-streaming.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import wire
from harness.clients.registry import runner
from harness.edge.policy import EdgePolicy
from harness.lab.runtime import RunningWorld
from harness.worlds.compile import LINK_LABELS
from harness.worlds.model import ProbeSpec, World
from netem.outage import LinkFault
from netem.tap import Tap

from .clients import Client
from .events import EDGE_BUDGET_S, NAT_TIMEOUT_S, OUTAGE_S, Event


def _edge(name: str, edge: str = "builtin", **policy) -> World:
    return World(name=f"fidelity-{name}", hypothesis="h1", time_scale=1.0, edge=edge,
                 edge_policy=EdgePolicy(**policy), origin_stream={"ping_interval": 0}, client_idle_timeout=10.0)


B = EDGE_BUDGET_S
WORLDS = {
    "origin": World(name="fidelity", hypothesis="control", time_scale=1.0, edge="none",
                    origin_stream={"ping_interval": 0}, client_idle_timeout=10.0),
    "nat": World(name="fidelity-nat", hypothesis="h2", time_scale=1.0, edge="none",
                 nat_timeout=NAT_TIMEOUT_S, origin_stream={"ping_interval": 0}, client_idle_timeout=10.0),
    "edge-first-byte-rst": _edge("fb-rst", first_byte_timeout=B, on_limit="rst"),
    "edge-first-byte-524": _edge("fb-524", first_byte_timeout=B, on_limit="status", status=524),
    "edge-idle-rst": _edge("idle-rst", idle_timeout=B, on_limit="rst"),
    "haproxy-h2c-idle": _edge("haproxy", "haproxy", idle_timeout=B, first_byte_timeout=B, on_limit="fin",
                              client_protocol="h2c"),
}
RESET_FIN = {"reset": ("reset_before_headers", "reset_mid_stream"), "fin": ("fin_before_headers", "fin_mid_stream")}


@dataclass
class Cell:
    client: str
    event: str
    skipped: str | None = None  # why the cell cannot run (e.g. an h2c event, an HTTP/1.1 client)
    client_label: str | None = None  # what the client said
    wire_label: str | None = None  # what the wire says (None: the client's own timer ended it)
    label: str | None = None  # the record's: the wire's where it decides
    attempts: int = 0  # requests the client made (the origin's count, or the client's)
    wire_attempts: int = 0  # main requests the tap saw leave the client
    retry_delays: list[float] = field(default_factory=list)
    recovered: bool = False  # the probe ended completed
    message: str | None = None
    wire: list[str] = field(default_factory=list)  # one line per main request, as the tap saw it
    retry_attempts: list[int] = field(default_factory=list)  # Claude Code api_error retryAttempt
    cause_codes: list[str | None] = field(default_factory=list)  # ... and their cause.code
    fell_back: bool = False  # Claude Code's silent non-streaming fallback
    seconds: float = 0.0
    error: str | None = None  # the harness failed to run the cell

    @property
    def match(self) -> bool | None:
        """Client label == wire label (None when the wire does not decide)."""
        if self.wire_label is None or self.client_label is None:
            return None
        return self.client_label == self.wire_label

    @property
    def rst_fin_swapped(self) -> bool:
        """The RECORD calls an RST a FIN or a FIN an RST, against the wire."""
        return _swapped(self.label, self.wire_label)

    @property
    def client_rst_fin_swapped(self) -> bool:
        return _swapped(self.client_label, self.wire_label)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(match=self.match, rst_fin_swapped=self.rst_fin_swapped,
                 client_rst_fin_swapped=self.client_rst_fin_swapped)
        return d


def _swapped(label: str | None, wire_label: str | None) -> bool:
    if label is None or wire_label is None:
        return False
    for a, b in (("reset", "fin"), ("fin", "reset")):
        if label in RESET_FIN[a] and wire_label in RESET_FIN[b]:
            return True
    return False


class Worlds:
    """A lane's worlds, started on first use and kept for its cells (one cell at a time:
    the tap sees every connection of the client host)."""

    def __init__(self, backend: str = "auto"):
        self.backend = backend
        self._open: dict[str, RunningWorld] = {}
        self._stack = contextlib.ExitStack()

    def get(self, kind: str) -> RunningWorld:
        if kind not in self._open:
            self._open[kind] = self._stack.enter_context(RunningWorld(WORLDS[kind], backend=self.backend))
        return self._open[kind]

    def close(self) -> None:
        self._stack.close()
        self._open.clear()

    def __enter__(self) -> Worlds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(ex: wire.Exchange) -> str:
    """One line for a wire exchange: 'rst from origin before headers at 0.12 s (up 1.9 MB, down 0 B)'."""
    def size(n: int) -> str:
        return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} B"

    if ex.end == "refused":
        return "refused (RST to SYN)"
    if ex.protocol == "tcp":
        return f"SYN unanswered, {ex.end.replace('_', ' ')}"
    when = "after headers" if ex.headers_before_end else "before headers"
    what = {"rst": f"RST from {ex.rst_from or '?'}", "fin": "FIN from the peer", "complete": "complete",
            "rst_stream": f"RST_STREAM({ex.code})", "goaway": f"GOAWAY({ex.code})",
            "client_rst": "client sent RST", "client_fin": "client sent FIN", "open": "still open"}[ex.end]
    parts = [what if ex.end == "complete" else f"{what} {when}"]
    if ex.status is not None:
        parts.append(f"status {ex.status}")
    if ex.sse_error_type:
        parts.append(f"event: error {ex.sse_error_type}")
    if ex.t_end is not None and ex.t_request is not None:
        parts.append(f"{ex.t_end - ex.t_request:.2f} s after the request")
    parts.append(f"up {size(ex.bytes_up)}, down {size(ex.bytes_down)}")
    if ex.silence >= 0.5:
        parts.append(f"silence {ex.silence:.1f} s")
    if ex.retransmits:
        parts.append(f"{ex.retransmits} retransmissions")
    if ex.method != "POST":
        parts.insert(0, f"{ex.method}:")
    return ", ".join(parts)


def _outage(rw: RunningWorld, tap: Tap, kind: str, stop: threading.Event) -> None:
    """Once the probe's response is streaming (the tap sees its bytes), the access link goes
    down / blackholed for OUTAGE_S, then comes back (always lifted, also on stop)."""
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        if any(f.down is not None and f.down.high > 1000 and f.up.data()[:5] == b"POST " for f in tap.flows("client")):
            break
        stop.wait(0.02)
    else:
        return
    stop.wait(0.2)
    fault = LinkFault(rw.topo, LINK_LABELS["access"])
    fault.begin(kind)
    try:
        stop.wait(OUTAGE_S)
    finally:
        fault.end(kind)


def _claude_code_reuse(probe, think: float, since: list[float]):
    """Claude Code (one interactive process): turn 1, then turn 2 on its pooled connection
    left idle ~think s (the turn-over detection and typing take ~1 s of it)."""
    from harness.clients import claude_code
    from harness.clients.common import api_key

    tmp = tempfile.mkdtemp(prefix="rl-fidelity-")
    try:
        home, project = claude_code.make_home(tmp, api_key(probe))
        with claude_code.Tui(probe, home, project, os.path.join(tmp, "debug.txt")) as tui:
            claude_code.turn_in(tui, probe, claude_code.prompt_text(probe))
            since.append(time.monotonic())  # the cell is turn 2: turn 1 only opened the connection
            return claude_code.turn_in(tui, probe, "Reply with one more word.",
                                       submit_at=time.time() + max(0.0, think - 1.0))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_client(rw: RunningWorld, client: Client, event: Event, probe, since: list[float]):
    from harness.clients import claude_code

    host = rw.topo["client"]
    if client.runner != "claude-code":
        return host.call(runner(client.runner), probe), None
    if event.think is not None:
        return host.call(_claude_code_reuse, probe, event.think, since)
    return host.call(claude_code.run_detailed, probe)


def run_cell(worlds: Worlds, client: Client, event: Event) -> Cell:
    cell = Cell(client.name, event.name)
    cell.skipped = client.applies(event)
    if cell.skipped:
        return cell
    start = time.monotonic()
    try:
        rw = worlds.get(event.world)
        probe = client.probe(rw.client_probe(ProbeSpec()), event)  # the spec's client is not used
        stop = threading.Event()
        t0 = time.monotonic()
        with Tap(rw.topo, flows=("client",)) as tap:
            trigger = None
            if event.outage:
                trigger = threading.Thread(target=_outage, args=(rw, tap, event.outage, stop), daemon=True)
                trigger.start()
            since: list[float] = []
            try:
                record, run = _run_client(rw, client, event, probe, since)
            finally:
                stop.set()
                if trigger is not None:
                    trigger.join()
        wire.attach(record, tap, t0)
    except Exception as exc:  # noqa: BLE001 - a cell that could not run says why; the others go on
        cell.error = f"{type(exc).__name__}: {exc}"
        cell.seconds = round(time.monotonic() - start, 2)
        return cell
    begin = since[0] - t0 if since else 0.0
    found = [ex for ex in wire.exchanges(tap, t0) if ex.main and (ex.t_request or 0.0) >= begin]
    cell.client_label, cell.label, cell.wire_label = record.client_label, record.label, record.wire["label"]
    cell.attempts, cell.retry_delays = record.attempts, [round(d, 2) for d in record.retry_delays]
    cell.wire_attempts = len(found)
    cell.recovered = record.outcome == "completed"
    cell.message = record.client_message
    cell.wire = [describe(ex) for ex in found]
    if run is not None:
        cell.retry_attempts = [r.get("retryAttempt") for r in run.api_errors]
        cell.cause_codes = [(r.get("cause") or {}).get("code") for r in run.api_errors]
        cell.fell_back = run.fell_back
    cell.seconds = round(time.monotonic() - start, 2)
    return cell
