"""What the surrogate assumes Claude Code on Bun does, as data: one row per wire event, with
what it logs, whether it retries, and where that was measured (or that it was not).

The surrogate (surrogate.py) reads only this table and the constants below, so when the
fidelity matrix (harness/fidelity/, issue 13) measures a row, the row changes here and
nothing else does. `status` is "measured" (on Bun unless the source says otherwise) or
"assumed" (measured on Node only, or not at all: the source says which).

The retry schedule and the pool are the project's own models (harness/mitigations.py:
SCHEDULES["claude_code"], MITIGATIONS["bun_pool"]), not copies.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass

from harness.mitigations import MITIGATIONS, SCHEDULES


@dataclass(frozen=True)
class Row:
    event: str  # the wire event, the key the surrogate uses
    api_error: bool  # Claude Code writes a system/api_error record (retryAttempt n) for it
    code: str | None  # cause.code in that record on Bun (None: no record)
    retries: bool  # Claude Code retries the request (else the turn ends)
    after: str  # what the session file shows when it is not retried or retries run out
    status: str  # measured | assumed
    source: str
    fallback: bool = False  # Claude Code retries the body once, non-streaming, with no record


TABLE: tuple[Row, ...] = (
    Row("reset_before_headers", True, "ECONNRESET", True, "synthetic 'API Error: Unable to connect "
        "to API (ECONNRESET)' after the last retry", "measured",
        "harness/clients/README.md 'Under Bun': h5, 7 MB, max_retries 2, cause.code ECONNRESET "
        "(test_h5_under_bun_keeps_cause_code)"),
    Row("stale_pooled_reuse", True, "ECONNRESET", True, "recovered at retry 1 on a new connection",
        "measured", "README 'What it says' (Bun, h2 at time_scale 1: NAT 30 s, idle 45 s), "
        "test_h2_persistent_under_bun_reuses_the_stale_connection_past_nodes_timeout, and the fidelity "
        "matrix's claude-code-bun/nat_reuse (1 api_error, recovered, in the runs that met the stale connection)"),
    Row("keepalive_meets_stale_mapping", False, None, False, "nothing: the probe's RST closes the "
        "pooled connection, the next request opens a new one", "measured",
        "README (Bun, NAT 30 s, idle 100 s: no error, new connection)"),
    Row("keepalive_refreshes_mapping", False, None, False, "nothing: the connection is kept",
        "measured", "README (Bun, NAT 90 s, idle 100 s: no error, same connection)"),
    Row("pool_idle_expiry", False, None, False, "nothing: a new connection", "measured",
        "README (Bun's fetch on loopback: reused after 120 and 290 s, new after 320 s)"),
    Row("edge_idle_fin", False, None, False, "nothing: the pool drops the connection on the FIN",
        "assumed", "measured on Node only (clients/README 'h1-keepalive-idle': 0 api_errors)"),
    Row("fin_before_headers", True, "ECONNRESET", True, "as reset_before_headers: Bun's fetch calls any "
        "unexpected close 'ECONNRESET: The socket connection was closed unexpectedly'", "measured",
        "the fidelity matrix (tests/fidelity_expected.json, claude-code-bun/fin_before_headers: "
        "reset_before_headers, 1 api_error); not used by the surrogate's mechanisms (they reset)"),
    Row("reset_mid_stream", False, None, False, "a non-streaming fallback of the same body (one more "
        "request, no record): the turn completes if it does, else ends in an error, still no record",
        "measured", "the fidelity matrix on Bun: rst_mid_block / rst_after_block completed with 2 "
        "requests and 0 api_errors; fin_mid_stream_clean not recovered when the fallback failed too, "
        "0 api_errors (Node, clients/README: 'API Error: terminated' after a block, no fallback)",
        fallback=True),
    Row("link_down_new_request", True, "ENETUNREACH", True, "synthetic API Error after the last retry",
        "measured", "README 'Lab vs field' (Bun: an h3 outage that caught a request logged ENETUNREACH)"),
    Row("link_down_in_flight", False, None, False, "nothing: the transfer stalls and resumes",
        "measured", "design.md 'Outages' (link down 3 s or 15 s: stall and resume, no error; kernel-level, "
        "client-independent)"),
)
ROWS = {r.event: r for r in TABLE}

SCHEDULE = SCHEDULES["claude_code"]  # retry n waits min(0.5 * 2^(n-1), 32) s
MAX_RETRIES = 10  # field §3.6: "maxRetries is always 10."
JITTER = 0.25  # retryInMs = delay x (1 + up to 25 %): clients/README "Backoff" (Bun: 552 / 1219 ms)
POOL_IDLE_S = MITIGATIONS["bun_pool"].pool_idle  # 300 s
KEEPALIVE_S = MITIGATIONS["bun_pool"].keepalive  # 60 s idle, then every 60 s (`ss` timer cycle)
RESET_RTT_S = 0.05  # a reset on first send comes back within a round trip (field RTT 14-27 ms)


def retry_delay(n: int, rng: random.Random) -> float:
    """Seconds Claude Code sleeps before retry n (1-based)."""
    return SCHEDULE.delay(n) * (1 + JITTER * rng.random())


def table() -> list[dict]:
    return [asdict(r) for r in TABLE]


def render() -> str:
    lines = ["| wire event | api_error | cause.code (Bun) | retried | then | status | where measured |",
             "|---|---|---|---|---|---|---|"]
    for r in TABLE:
        lines.append(f"| {r.event} | {'yes' if r.api_error else 'no'} | {r.code or '-'} | "
                     f"{'yes' if r.retries else 'no'} | {r.after} | {r.status} | {r.source} |")
    return "\n".join(lines)


# rows of TABLE <-> cells of the fidelity matrix (harness/fidelity/events.py, client "claude-code-bun")
FIDELITY_CELLS = {"reset_before_headers": "rst_after_upload", "fin_before_headers": "fin_before_headers",
                  "stale_pooled_reuse": "nat_reuse", "reset_mid_stream": "rst_after_block",
                  "link_down_new_request": "outage_down"}
FIDELITY_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fidelity_expected.json")


def check_fidelity(path: str = FIDELITY_FILE) -> list[str]:
    """Rows of this table that the fidelity matrix's observed mapping (issue 13's
    tests/fidelity_expected.json: per "client/event" cell, every value seen of each fact)
    contradicts on whether Claude Code on Bun writes api_error records (a row that writes
    one must have been seen writing one; a row that does not, never); [] when it agrees or
    has not landed."""
    try:
        with open(path) as f:
            seen = json.load(f)
    except (OSError, ValueError):
        return []
    out = []
    for event, cell in FIDELITY_CELLS.items():
        facts = seen.get(f"claude-code-bun/{cell}")
        counts = facts.get("api_errors") if isinstance(facts, dict) else None
        if not counts:
            continue
        writes = ROWS[event].api_error
        if (max(counts) > 0) != writes:
            out.append(f"{event}: assumed api_error={writes}, the fidelity matrix's {cell} cell saw "
                       f"api_errors {counts}")
    return out
