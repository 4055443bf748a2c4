"""The real clients of the fidelity matrix, and how each is set up for one cell.

Every client makes at most one retry (`max_retries` 1: enough to see whether and how it
retries, cheap enough for the whole matrix). For events marked `watchdog` the clients'
own timers are short, so silence ends in each client's own way:

    raw          idle_timeout 2 s (body), timeout 3 s (headers)
    curl         --speed-time 2 (body), --max-time 3
    python-sdk   timeout 2 s (httpx: connect / read / write each)
    node-sdk     timeout 2 s (the SDK's: until headers) + our deadline 4 s (the body)
    claude-code  API_TIMEOUT_MS 2000 (headers); no body watchdog: our deadline kills it
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.clients.probe import Probe
from harness.workload import NO_COMPACT_ENV

from .events import Event


@dataclass(frozen=True)
class Client:
    name: str  # the matrix's column name
    runner: str  # harness.clients.registry name
    runtime: str | None = None  # claude-code: node | bun
    h2c: bool = False  # speaks h2c (prior knowledge)
    slow: bool = False  # a process start-up per cell (seconds): run these concurrently

    def applies(self, event: Event) -> str | None:
        """None if the cell can run, else why not."""
        if event.h2 and not self.h2c:
            return "HTTP/1.1 only"
        if event.think is not None and self.runner == "curl":
            return "one request per process: nothing pooled"
        return None

    def probe(self, base: Probe, event: Event) -> Probe:
        kw: dict = {"timeout": 10.0}
        if self.runner == "claude-code":
            # interactive: the mode that writes api_error records (the field report's); no
            # compaction of a large prompt (as the workload runner), so failures stay API errors
            kw.update(mode="interactive", runtime=self.runtime or "node", env=dict(NO_COMPACT_ENV))
            kw["deadline"] = 14.0 if event.watchdog else 30.0
        if event.watchdog:
            kw["timeout"] = 3.0 if self.runner in ("raw", "curl") else 2.0
            kw["idle_timeout"] = 2.0
            if self.runner == "node-sdk":
                kw["deadline"] = 4.0
        if event.think is not None:
            kw["think_time"] = event.think
        return dataclasses.replace(base, size=event.size, lab_plan=list(event.plan) or None,
                                   lab_stream=dict(event.stream), max_retries=1,
                                   protocol="h2c" if event.h2 else "http1", **kw)


CLIENTS: tuple[Client, ...] = (
    Client("raw", "raw", h2c=True),
    Client("python-sdk", "python-sdk", h2c=True),
    Client("node-sdk", "node-sdk"),
    Client("curl", "curl", h2c=True),
    Client("claude-code", "claude-code", runtime="node", slow=True),
    Client("claude-code-bun", "claude-code", runtime="bun", slow=True),
)
BY_NAME = {c.name: c for c in CLIENTS}
QUICK = ("raw", "python-sdk", "node-sdk", "curl")
