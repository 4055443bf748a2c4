"""Retries as the origin saw them: which requests belong to one probe, and the gaps between them.

A client's own retries are invisible to a caller that only sees the final exception (and
Claude Code never says how many requests it made), so the real-client runners count them
at the origin. Every runner tags each request of one probe with a unique header,

    x-resetlab-probe-id: <PROBE_ID>          (new_probe_id())

which the origin's request log keeps (``headers`` of each record). How a runner gets the
log, from the Probe (first that is set):

    origin_records   a callable returning the records (e.g. ``lambda: list(info.records)``),
                     or the live sequence itself (``OriginThread(...).info.records``, a deque)
    origin_log       a path to the origin's JSONL request log (``--log``; what a world writes)

Neither set: the runner falls back to what the client itself can tell (its own attempt
count and start times), and says so in nothing but the README: the numbers are then a
lower bound for clients that retry silently.

``collect(probe, probe_id)`` waits briefly for the log to settle (the origin writes a record
when the request is over, which can be just after the client gave up) and returns an
``OriginView``: the probe's requests in start order, ``attempts``, ``starts`` (Unix times the
request headers arrived), ``delays`` (start-to-start gaps, what ProbeRecord.retry_delays
holds) and ``gaps`` (previous request finished -> next started: the client's backoff with
the failure time taken out).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

PROBE_ID_HEADER = "x-resetlab-probe-id"


def new_probe_id() -> str:
    return "p-" + uuid.uuid4().hex[:16]


@dataclass
class OriginView:
    records: list[dict] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.records)

    @property
    def starts(self) -> list[float]:
        return [r["ts"] for r in self.records]

    @property
    def delays(self) -> list[float]:
        """Seconds between consecutive request starts (headers received at the origin)."""
        s = self.starts
        return [round(max(0.0, b - a), 6) for a, b in zip(s, s[1:], strict=False)]

    @property
    def gaps(self) -> list[float]:
        """Seconds from a request's end (as the origin saw it) to the next request's start."""
        out = []
        for prev, nxt in zip(self.records, self.records[1:], strict=False):
            end = (prev.get("timings") or {}).get("finished") or prev["ts"]
            out.append(round(max(0.0, nxt["ts"] - end), 6))
        return out

    @property
    def served(self) -> list[str | None]:
        """Per request: "stream", "message" (a non-streaming answer), "error", or None
        (nothing was served: the request failed before response headers)."""
        return [r.get("served") for r in self.records]

    @property
    def last(self) -> dict | None:
        return self.records[-1] if self.records else None


def select(records: Iterable[dict], probe_id: str,
           keep: Callable[[dict], bool] | None = None) -> list[dict]:
    """The records of one probe (by its id header), in start order; `keep` filters more."""
    out = [r for r in records
           if (r.get("headers") or {}).get(PROBE_ID_HEADER) == probe_id and (keep is None or keep(r))]
    return sorted(out, key=lambda r: r["ts"])


def summarize(records: Iterable[dict]) -> OriginView:
    return OriginView(sorted(records, key=lambda r: r["ts"]))


def origin_source(probe: Any) -> Callable[[], list[dict]] | None:
    """A function returning the origin's current records, from the probe (see above)."""
    src = probe.origin_records
    if src is not None:
        if callable(src):
            return lambda: list(src())
        return lambda: list(src)
    path = probe.origin_log
    if path:
        return lambda: _read_log(path)
    return None


def _read_log(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line being written
    return out


def collect(probe: Any, probe_id: str, *, keep: Callable[[dict], bool] | None = None,
            expect: int = 1, settle: float = 0.25, timeout: float = 5.0) -> OriginView | None:
    """This probe's requests once at least `expect` are logged (the attempts the client
    itself counted) and the log has been quiet for `settle` seconds; at most `timeout`
    seconds. None when the probe names no origin log."""
    source = origin_source(probe)
    if source is None:
        return None
    started = time.monotonic()
    deadline = started + timeout
    last: list[dict] = []
    quiet_since = time.monotonic()
    while True:
        now = select(source(), probe_id, keep)
        if len(now) != len(last):
            last, quiet_since = now, time.monotonic()
        elif len(last) >= max(1, expect) and time.monotonic() - quiet_since >= settle:
            break
        if time.monotonic() >= deadline or (not last and time.monotonic() - started >= 1.0):
            break  # (nothing at all after 1 s: the requests never reached the origin)
        time.sleep(0.02)
    return summarize(last)


def public_probe(probe: Any) -> dict[str, Any]:
    """The probe's parameters for the record (Probe.public: no origin-log handles), made JSON-safe."""
    return json.loads(json.dumps(probe.public(), default=repr))
