"""All cells of the fidelity matrix, concurrently, and the report (JSON + Markdown).

Cells run in `jobs` lanes; each lane owns its worlds (own namespaces, origin and tap), so
concurrent cells never see each other's connections. Claude Code cells (a process and a
TUI each, 5-20 s) are queued first so they spread over the lanes; the others fill in.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from .cell import Cell, Worlds, run_cell
from .clients import CLIENTS, Client
from .events import EVENTS, Event


def run_matrix(clients: Sequence[Client] = CLIENTS, events: Sequence[Event] = EVENTS, jobs: int = 3,
               backend: str = "auto", progress: Callable[[Cell], None] | None = None) -> dict:
    todo: queue.Queue[tuple[Client, Event]] = queue.Queue()
    for c in sorted(clients, key=lambda c: not c.slow):
        for e in events:
            todo.put((c, e))
    cells: list[Cell] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def lane() -> None:
        try:
            with Worlds(backend) as worlds:
                while True:
                    try:
                        c, e = todo.get_nowait()
                    except queue.Empty:
                        return
                    cell = run_cell(worlds, c, e)
                    with lock:
                        cells.append(cell)
                    if progress is not None:
                        progress(cell)
        except BaseException as exc:  # a world that would not start: reported, lanes go on
            failures.append(exc)

    t0 = time.monotonic()
    threads = [threading.Thread(target=lane, name=f"fidelity-{i}") for i in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures and not cells:
        raise failures[0]
    order = {(c.name, e.name): i for i, (c, e) in enumerate((c, e) for c in clients for e in events)}
    cells.sort(key=lambda cell: order[(cell.client, cell.event)])
    return {"generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - t0, 1), "jobs": jobs,
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "clients": [c.name for c in clients],
            "events": [{"name": e.name, "what": e.what} for e in events],
            "cells": [c.to_dict() for c in cells],
            "lane_errors": [f"{type(x).__name__}: {x}" for x in failures]}


# -- report ----------------------------------------------------------------------------------


def cell_text(d: dict) -> str:
    """One table cell: the client's label; the wire's when it differs; requests; recovered."""
    if d["skipped"]:
        return f"n/a ({d['skipped']})"
    if d["error"]:
        return f"error: {d['error'][:60]}"
    text = f"`{d['client_label']}`"
    if d["wire_label"] is not None and d["wire_label"] != d["client_label"]:
        text += f" **≠ wire `{d['wire_label']}`**"
    n = max(d["attempts"], d["wire_attempts"])
    if n > 1:
        text += f" · {n} req"
        if d["wire_attempts"] != d["attempts"]:
            text += f" (origin saw {d['attempts']})"
    if d["retry_attempts"]:
        codes = sorted({str(c) for c in d["cause_codes"]})
        text += f" · api_error ×{len(d['retry_attempts'])} cause {'/'.join(codes)}"
    if d["fell_back"]:
        text += " · fell back"
    if d["recovered"] and d["event"] not in ("none",):
        text += " · recovered"
    return text


def markdown(result: dict, detail: bool = True) -> str:
    clients = result["clients"]
    by = {(c["client"], c["event"]): c for c in result["cells"]}
    ran = [c for c in result["cells"] if not c["skipped"] and not c["error"]]
    lines = [f"Client fidelity matrix: {len(clients)} clients x {len(result['events'])} wire events, "
             f"{len(ran)} cells run in {result['seconds']} s ({result['jobs']} lanes, load average "
             f"{result['load_average'][0]} at the end), {result['generated']}.",
             "Each cell: what the client reported (its own label), the wire's label where it "
             "differs, requests made (several: it retried), Claude Code's api_error records, "
             "and whether it recovered (completed).", "",
             "| event | " + " | ".join(clients) + " |", "|---|" + "---|" * len(clients)]
    for e in result["events"]:
        row = [cell_text(by[(c, e["name"])]) if (c, e["name"]) in by else "" for c in clients]
        lines.append(f"| {e['name']}: {e['what']} | " + " | ".join(row) + " |")
    wrong = [c for c in ran if c["match"] is False]
    lines += ["", f"Labels that differ from the wire: {len(wrong)} of {len(ran)} cells "
              f"({sum(c['client_rst_fin_swapped'] for c in ran)} call an RST a FIN or a FIN an RST; "
              f"after the wire decides, records that still do: {sum(c['rst_fin_swapped'] for c in ran)})."]
    for c in wrong:
        lines.append(f"- {c['client']} / {c['event']}: client `{c['client_label']}`, wire `{c['wire_label']}`"
                     f" — {(c['message'] or '(no message)')[:140]}")
    if detail:
        lines += ["", "| client | event | client's message | the wire (main requests) | delays s |",
                  "|---|---|---|---|---|"]
        for c in ran:
            msg = (c["message"] or "").replace("|", "\\|").replace("\n", " ")[:160]
            wire = "<br>".join(c["wire"]).replace("|", "\\|")
            lines.append(f"| {c['client']} | {c['event']} | {msg} | {wire} | "
                         f"{', '.join(str(d) for d in c['retry_delays'])} |")
    return "\n".join(lines) + "\n"


def write(result: dict, out_dir: str) -> tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    js, md = os.path.join(out_dir, "fidelity.json"), os.path.join(out_dir, "fidelity.md")
    with open(js, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    with open(md, "w", encoding="utf-8") as f:
        f.write(markdown(result))
    return js, md
