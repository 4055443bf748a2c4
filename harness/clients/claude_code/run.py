"""Running one probe with Claude Code: print mode (-p) or a turn of the TUI, then the record."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

from harness.outcome import ProbeRecord, classify
from netem.errors import ConfigError

from .. import retries
from ..common import (
    NodeUnavailable,
    api_key,
    ensure_npm,
    make_record,
    node_binary,
)
from ..probe import Probe
from .env import (
    BUN,
    BUN_PACKAGE,
    CLI,
    CLIENT,
    FOLDER,
    _env,
    default_deadline,
    make_home,
    prompt_text,
    runtime_binary,
    version,
)
from .observe import ClaudeCodeRun, is_main, observe
from .tui import Tui, _session_records, _stop, session_marks


def _run_print(probe: Probe, env: dict[str, str], project: str, debug_file: str,
               deadline: float, res: ClaudeCodeRun, args: tuple[str, ...] = ()) -> None:
    cmd = [*probe.wrap, runtime_binary(probe), CLI, "-p", "--output-format", "stream-json",
           "--verbose", "--include-partial-messages", "--debug-file", debug_file, *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(prompt_text(probe), timeout=deadline)
    except subprocess.TimeoutExpired:
        res.killed = True
        _stop(proc)
        out, err = proc.communicate()
    res.wall = time.monotonic() - t0
    res.exit_code = proc.returncode
    res.stdout_tail, res.stderr_tail = out[-4000:], err[-4000:]
    for line in out.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        kind, sub = d.get("type"), d.get("subtype")
        if kind == "system" and sub == "api_retry":
            res.api_retries.append(d)
        elif kind == "stream_event":
            res.stream_events.append((d.get("event") or {}).get("type"))
        elif kind == "result":
            res.text, res.is_error = d.get("result"), bool(d.get("is_error"))


def _check(probe: Probe) -> str:
    mode = probe.mode  # mode and runtime are checked by Probe itself
    if probe.protocol != "http1":
        raise ConfigError("Probe.protocol", probe.protocol,
                          "http1 (Claude Code 2.1.104 on Node speaks HTTP/1.1 only)")
    if node_binary() is None:
        raise NodeUnavailable("node is not installed")
    ensure_npm(FOLDER)
    if runtime_binary(probe) is None:
        raise NodeUnavailable(f"bun is not installed: {BUN} is missing (the optional npm package "
                              f"{BUN_PACKAGE} installs only on Linux x64)")
    return mode


def run_detailed(probe: Probe) -> tuple[ProbeRecord, ClaudeCodeRun]:
    """One probe in a fresh throwaway HOME and project (removed after)."""
    _check(probe)
    tmp = tempfile.mkdtemp(prefix="rl-claude-")
    try:
        home, project = make_home(tmp, api_key(probe))
        return run_in_home(probe, home, project, os.path.join(tmp, "debug.txt"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_in_home(probe: Probe, home: str, project: str, debug_file: str,
                args: tuple[str, ...] = ()) -> tuple[ProbeRecord, ClaudeCodeRun]:
    """One probe (one turn) in an existing HOME / project (make_home()), which is kept: a
    session there can be resumed with args=("--resume", SESSION_ID). Only the session
    records written during this run are parsed."""
    mode = _check(probe)
    deadline = probe.deadline or default_deadline(probe)
    res = ClaudeCodeRun(mode=mode)
    if mode == "print":
        probe_id = retries.new_probe_id()
        since = session_marks(home)
        _run_print(probe, _env(probe, home, probe_id, "dumb"), project, debug_file, deadline, res,
                   args)
        records = _session_records(home, since)
        res.api_errors = [r for r in records
                          if r.get("type") == "system" and r.get("subtype") == "api_error"]
        res.assistant = [r for r in records if r.get("type") == "assistant"]
    else:
        with Tui(probe, home, project, debug_file, args) as tui:
            probe_id = tui.probe_id
            tui.turn(prompt_text(probe), deadline, res)
    return finish(probe, probe_id, res, debug_file)


def turn_in(tui: Tui, probe: Probe, text: str,
            submit_at: float | None = None) -> tuple[ProbeRecord, ClaudeCodeRun]:
    """One turn of a running Tui (a persistent session): `text` is the prompt, `probe` the
    turn's parameters for the record and its deadline (the process's environment, set when
    the Tui started, stays), `submit_at` as in Tui.turn. Only the origin's records from
    this turn on count (every turn has the Tui's probe id)."""
    deadline = probe.deadline or default_deadline(probe)
    res = ClaudeCodeRun(mode="interactive")
    debug_from = os.path.getsize(tui.debug_file) if os.path.exists(tui.debug_file) else 0
    since = time.time()
    tui.turn(text, deadline, res, submit_at=submit_at)
    # the turn is over, so its requests are logged: no need to wait long for attempts that
    # Claude Code counted but the origin never saw
    return finish(probe, tui.probe_id, res, tui.debug_file, debug_from=debug_from,
                  keep=lambda r: r.get("ts", 0) >= since - 0.001, collect_timeout=1.0)


def finish(probe: Probe, probe_id: str, res: ClaudeCodeRun, debug_file: str, debug_from: int = 0,
           keep=None, collect_timeout: float = 5.0) -> tuple[ProbeRecord, ClaudeCodeRun]:
    """A run's debug log (from byte `debug_from`), the origin's view of its requests (probe
    id, and `keep`) and the record. Attempts: the origin's count, or more when Claude Code
    said it retried requests that never reached the origin (e.g. a stale pooled connection
    reset before the request got through)."""
    try:
        with open(debug_file, encoding="utf-8", errors="replace") as f:
            f.seek(debug_from)
            res.debug_errors = [ln.rstrip("\n") for ln in f if "[ERROR]" in ln]
    except OSError:
        pass
    said = 1 + max(len(res.api_retries), len(res.api_errors)) + (1 if res.fell_back else 0)
    res.origin_all = retries.collect(probe, probe_id, keep=keep, expect=said,
                                    timeout=collect_timeout)
    if res.origin_all is not None:
        res.origin = retries.summarize(r for r in res.origin_all.records if is_main(r))
    obs = observe(res)
    outcome = classify(obs)
    if res.origin is not None and res.origin.attempts:
        attempts, delays = max(res.origin.attempts, said), res.origin.delays
        request_bytes = res.origin.records[0].get("body_bytes", 0)
        last = res.origin.last
        request_id = last.get("request_id") if obs.status is not None else None
    else:  # only what Claude Code said about itself
        planned = [e.get("retry_delay_ms") for e in res.api_retries] or \
                  [e.get("retryInMs") for e in res.api_errors]
        delays = [round(float(d) / 1000, 6) for d in planned if d is not None]
        attempts = 1 + len(delays) + (1 if res.fell_back else 0)
        request_bytes, request_id = 0, None
    wall = round(res.wall, 6)
    record = make_record(
        outcome, CLIENT, status=obs.status, client_version=version(), protocol="http/1.1",
        events_received=len(res.stream_events), request_bytes=request_bytes,
        t_failure=None if outcome.kind == "completed" else wall, t_total=wall,
        request_id=request_id, attempt=attempts, attempts=attempts, retry_delays=delays,
        client_message=res.text, probe=retries.public_probe(probe))
    return record, res


def run(probe: Probe) -> ProbeRecord:
    return run_detailed(probe)[0]
