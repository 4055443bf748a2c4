"""The Claude Code workload runner (harness/workload.py): real Claude Code 2.1.104, one
session of turns with growing context in a running world, and the field-log analyzer over the
session JSONL it wrote.

h5 (pre-header resets of requests above ~6.7 MB) with turns of 0.1, 2 and 7 MB: the last turn
is reset before headers on every attempt, so Claude Code writes one system/api_error record
per retry and an "API Error" turn; harness.fieldlog.analyze() must count those records
exactly as this test counts them from the raw JSONL. The control world, same sizes: no
api_error at all. Both: the requests really grow (the origin's own log, by probe id).
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from harness import jsonl
from harness.clients import claude_code
from harness.clients.common import platform_ok
from harness.clients.probe import Probe
from harness.clients.retries import PROBE_ID_HEADER
from harness.fieldlog import analyze
from harness.workload import (
    ONE_REQUEST_PER_TURN,
    append_exchange,
    filler,
    project_dir,
    run_workload,
)
from harness.worlds import by_name
from netem.errors import ConfigError
from tests.requires import installed, needs, skip_if, skip_reason

SIZES = (100_000, 2_000_000, 7_000_000)
RETRIES = 2
MIB = 1024 * 1024


NODE_SKIP = skip_reason(claude_code.FOLDER, "the Claude Code runner")
needs_node = needs(NODE_SKIP)


@pytest.fixture(scope="module")
def claude_folder():
    return installed(claude_code.FOLDER)


def _jsonl(out_dir: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, files in os.walk(out_dir) for f in files if f.endswith(".jsonl"))


def _count(out_dir: str) -> dict:
    """Our own count, straight from the JSONL: api_error records by code and retryAttempt,
    synthetic API Error turns, and each file's size bucket (1 MB = 1 MiB)."""
    codes, attempts, files = Counter(), Counter(), {}
    synthetic = 0
    for path in _jsonl(out_dir):
        errors = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("type") == "system" and rec.get("subtype") == "api_error":
                    errors += 1
                    cause = rec.get("cause") or (rec.get("error") or {}).get("cause") or {}
                    codes[cause.get("code") or "unknown"] += 1
                    attempts[rec["retryAttempt"]] += 1
                elif rec.get("type") == "assistant" and rec.get("isApiErrorMessage"):
                    synthetic += 1
        size = os.path.getsize(path)
        bucket = "<1MB" if size < MIB else "1-3MB" if size < 3 * MIB else "3-6MB" if size < 6 * MIB else ">=6MB"
        files[path] = (bucket, errors)
    return {"codes": codes, "attempts": attempts, "files": files, "synthetic": synthetic}


def _origin_sizes(rw, wl) -> list[list[int]]:
    """Per turn, the conversation requests' body_bytes as the origin logged them."""
    records = rw.origin_records()
    out = []
    for t in wl.turns:
        mine = sorted((r for r in records if (r.get("headers") or {}).get(PROBE_ID_HEADER) == t.probe_id
                       and claude_code.is_main(r)), key=lambda r: r["ts"])
        out.append([r["body_bytes"] for r in mine])
    return out


def _check_growth(rw, wl) -> None:
    sent = _origin_sizes(rw, wl)
    assert all(sent), sent  # every turn reached the origin
    firsts = [s[0] for s in sent]
    assert firsts == [t.request_bytes for t in wl.turns]
    assert firsts == sorted(firsts) and firsts[-1] > 60 * firsts[0], firsts
    for target, size in zip(SIZES, firsts, strict=True):
        assert abs(size - target) <= max(2_000, 0.01 * target), (target, size)


# -- the session file, without Claude Code ----------------------------------------------------


def test_filler_has_the_asked_json_length():
    for n in (0, 1, 79, 80, 81, 5_000, 123_457):
        text = filler(n, seed=n)
        assert len(json.dumps(text)) - 2 == n and text.isascii()


def test_synthetic_exchange_chains_to_the_last_message(tmp_path):
    path = project_dir(str(tmp_path / "home"), "/tmp/x y/project") + "/s.jsonl"
    assert path.endswith("/home/.claude/projects/-tmp-x-y-project/s.jsonl")
    append_exchange(path, "s", "/tmp/x y/project", 1000)
    append_exchange(path, "s", "/tmp/x y/project", 2000, seed=1)
    with open(path, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    assert [r["type"] for r in recs] == ["user", "assistant"] * 2
    assert [r["parentUuid"] for r in recs] == [None] + [r["uuid"] for r in recs[:-1]]
    assert [len(json.dumps(r["message"]["content"])) - 2 for r in recs[::2]] == [1000, 2000]
    assert analyze([str(tmp_path)])["totals"]["api_errors"] == 0


def test_turn_over_skips_synthetic_non_error_records():
    """Resuming a session whose last turn died right after its attachment record makes
    Claude Code write "No response requested." (model <synthetic>) before the new request:
    that does not end the new turn; an API Error message or a real answer does."""
    no_response = {"type": "assistant", "message": {"model": "<synthetic>", "stop_reason": "stop_sequence",
                                                    "content": [{"type": "text", "text": "No response requested."}]}}
    answer = {"type": "assistant", "message": {"model": "claude-sonnet-4-6", "stop_reason": "end_turn",
                                               "content": [{"type": "text", "text": "ok"}]}}
    api_error = {"type": "assistant", "isApiErrorMessage": True,
                 "message": {"model": "<synthetic>", "stop_reason": "stop_sequence", "content": []}}
    assert claude_code._turn_over([no_response]) is None
    assert claude_code._turn_over([no_response, answer]) is answer
    assert claude_code._turn_over([no_response, api_error]) is api_error


# -- real Claude Code in running worlds -------------------------------------------------------


@pytest.mark.netns
@pytest.mark.slow
@needs_node
def test_h5_workload_api_errors_counted_like_the_field(world_runner, claude_folder, tmp_path):
    rw = world_runner(by_name("h5"))
    out = str(tmp_path / "out")
    wl = run_workload(rw, sizes=SIZES, max_retries=RETRIES, out=out)
    assert [t.outcome for t in wl.turns] == ["completed", "completed", "reset_before_headers"], wl.table()
    assert [t.api_errors for t in wl.turns] == [0, 0, RETRIES]
    assert wl.turns[-1].attempts == RETRIES + 1 and wl.turns[-1].synthetic_error
    assert wl.turns[-1].message == "API Error: Unable to connect to API (ECONNRESET)"
    _check_growth(rw, wl)
    # every attempt of the failing turn carried the whole 7 MB context
    assert len(set(_origin_sizes(rw, wl)[-1])) == 1

    # one session file, resumed turn after turn
    mine = _count(out)
    assert list(mine["files"]) == [wl.session_file]
    assert sum(mine["codes"].values()) == RETRIES and mine["synthetic"] == 1
    rep = analyze([out])
    t = rep["totals"]
    assert t["files"] == t["sessions"] == 1 and t["sessions_with_errors"] == 1
    assert t["api_errors"] == sum(mine["codes"].values()) == wl.api_errors
    assert rep["by_code"] == dict(mine["codes"]) == {"unknown": RETRIES}  # Node writes cause: {}
    assert rep["by_version"] == {"2.1.104": RETRIES}
    assert {r["attempt"]: r["triggered"] for r in rep["retry_curve"]} == dict(mine["attempts"]) \
        == {n: 1 for n in range(1, RETRIES + 1)}
    assert all(r["recovered"] == 0 for r in rep["retry_curve"])
    assert rep["chains"]["unrecovered"] == 1 and rep["synthetic_api_errors"]["count"] == 1
    bucket, errors = mine["files"][wl.session_file]
    assert bucket == ">=6MB"
    rows = {r["bucket"]: (r["sessions"], r["errors"]) for r in rep["size_buckets"]}
    assert rows == {b: ((1, errors) if b == bucket else (0, 0)) for b in ("<1MB", "1-3MB", "3-6MB", ">=6MB")}
    assert rep["malformed_lines"] == 0
    with open(os.path.join(out, "workload.json"), encoding="utf-8") as f:
        assert json.load(f)["api_errors"] == RETRIES


def _needs_bun() -> None:
    """Skip where Bun cannot be here; where npm installs it, its absence is a failure under .ci/run."""
    if not os.access(claude_code.BUN, os.X_OK):
        if not platform_ok(claude_code.FOLDER, claude_code.BUN_PACKAGE):  # only Linux x64 gets the package
            pytest.skip(f"bun: {claude_code.BUN_PACKAGE} does not install on this platform")
        skip_if(f"bun is not installed: {claude_code.BUN} is missing")


def test_runtime_is_validated():
    with pytest.raises(ConfigError, match="Probe.runtime"):
        Probe(base_url="http://127.0.0.1:1", runtime="deno")


@pytest.mark.netns
@pytest.mark.slow
@needs_node
def test_h5_under_bun_keeps_cause_code(world_runner, claude_folder, tmp_path):
    """Claude Code on Bun (as its native build): the same 7 MB pre-header resets give
    api_error records whose cause is the field's {"code": "ECONNRESET", "path": URL,
    "errno": 0} (Node writes cause: {}), so analyze() counts them by code."""
    _needs_bun()
    rw = world_runner(by_name("h5"))
    out = str(tmp_path / "out")
    wl = run_workload(rw, sizes=(7_000_000,), max_retries=RETRIES, out=out, runtime="bun")
    assert wl.wall < 90, wl.wall
    turn = wl.turns[0]
    assert turn.outcome == "reset_before_headers" and turn.attempts == RETRIES + 1, wl.table()
    assert turn.message == "API Error: Unable to connect to API (ECONNRESET)"
    assert turn.retry_attempts == list(range(1, RETRIES + 1))
    with open(wl.session_file, encoding="utf-8") as f:
        errors = [r for r in map(json.loads, f) if r.get("type") == "system" and r.get("subtype") == "api_error"]
    assert len(errors) == RETRIES
    for rec in errors:
        assert rec["cause"]["code"] == "ECONNRESET" and rec["cause"]["errno"] == 0, rec["cause"]
        assert rec["cause"]["path"].endswith("/v1/messages?beta=true") and rec["error"]["cause"] == rec["cause"]
    rep = analyze([out])
    assert rep["by_code"] == dict(_count(out)["codes"]) == {"ECONNRESET": RETRIES}
    assert rep["by_version"] == {"2.1.104": RETRIES} and rep["totals"]["api_errors"] == RETRIES


@pytest.mark.netns
@pytest.mark.slow
@needs_node
def test_control_workload_has_no_api_errors(world_runner, claude_folder, tmp_path):
    rw = world_runner(by_name("control"))
    out = str(tmp_path / "out")
    wl = run_workload(rw, sizes=SIZES, max_retries=RETRIES, out=out)
    assert [t.outcome for t in wl.turns] == ["completed"] * len(SIZES), wl.table()
    assert [t.attempts for t in wl.turns] == [1] * len(SIZES)
    _check_growth(rw, wl)
    mine = _count(out)
    rep = analyze([out])
    assert rep["totals"]["api_errors"] == 0 == sum(mine["codes"].values()) == wl.api_errors
    assert rep["totals"]["sessions"] == 1 and mine["synthetic"] == 0
    assert rep["retry_curve"] == [] and rep["by_code"] == {}
    assert {r["bucket"]: r["sessions"] for r in rep["size_buckets"]}[mine["files"][wl.session_file][0]] == 1


# -- persistent mode: one Claude Code process, its connection pool kept between turns ---------
#
# h2's NAT forgets an idle flow after 120 field s = 2 s at time_scale 1/60. Claude Code
# (undici) closes a pooled connection idle ~4 s (measured, unscaled), so the pooled
# connection is stale on reuse when the idle time is between those: think 150 field s (2.5 s)
# -> every later turn's first attempt is reset before it reaches the edge, one api_error
# (retryAttempt 1), and the retry on a new connection answers. At 480 field s (8 s) the
# client has already closed it: a new connection, no error. Not so under Bun (Claude Code's
# native build): its pool keeps the connection (minutes; its 60 s TCP keepalive has not
# fired yet at 8 s), so the 8 s reuse is reset too -- with the field's cause.code ECONNRESET.

# Small pastes: the runner's floor between turns is ~1.5 s plus the paste, and Claude Code
# then builds the request -- with 2-7 MB pastes on a loaded CI machine the real idle came
# within a few tenths of Node's ~4 s (turn 3's measured idle went to 3.5 s at a 3 s think).
H2_SIZES = (100_000, 500_000, 1_000_000)
# Where the NAT forgets the flow (2 s) and where Node closes it (~4 s), with margins for load
H2_IDLE = (2.2, 3.8)


def _edge_conn(rw, request_ids: list[str]) -> list[int]:
    """The edge's client-side connection number of each request (by the origin's request id)."""
    conns = {r["request_id"]: r["conn"] for r in jsonl.read(os.path.join(rw.workdir, "edge.jsonl"))
             if r.get("request_id")}
    return [conns[rid] for rid in request_ids]


def _check_stale_reuse(rw, wl, out) -> None:
    """Every turn after the first comes after an idle past the NAT's timeout, with the pool
    still holding the previous turn's connection, and is one request (ONE_REQUEST_PER_TURN:
    Claude Code's title request would race it for that connection -- CI saw turns with no
    api_error when the title request took the stale one). So each of those turns: the
    reuse is reset before it reaches the edge (no request is served on an earlier turn's
    connection), one api_error with retryAttempt 1, and the retry on a new connection
    answers."""
    conns = [_edge_conn(rw, t.request_ids) for t in wl.turns]
    for k in range(1, len(conns)):
        assert not set(conns[k]) & set().union(*conns[:k]), (k, conns)
    stale = len(wl.turns) - 1
    assert [t.retry_attempts for t in wl.turns] == [[]] + [[1]] * stale, wl.table()
    assert [t.attempts for t in wl.turns] == [1] + [2] * stale, wl.table()
    # the failed attempts never reached the origin: one conversation request per turn there
    assert [len(t.requests) for t in wl.turns] == [1] * len(wl.turns)
    rep = analyze([out])
    assert rep["totals"]["api_errors"] == stale == sum(_count(out)["codes"].values())
    assert {r["attempt"]: (r["triggered"], r["recovered"]) for r in rep["retry_curve"]} == {1: (stale, stale)}
    assert rep["chains"]["recovered"] == stale and rep["synthetic_api_errors"]["count"] == 0


def _check_persistent_growth(rw, wl, sizes) -> None:
    """The conversation requests the origin logged under the session's one probe id are
    exactly the turns' requests, and each turn's first one is within 1 % of its target."""
    assert len({t.probe_id for t in wl.turns}) == 1
    mine = [r for r in rw.origin_records() if (r.get("headers") or {}).get(PROBE_ID_HEADER) == wl.turns[0].probe_id
            and claude_code.is_main(r)]
    assert sorted(r["request_id"] for r in mine) == sorted(i for t in wl.turns for i in t.request_ids)
    by_id = {r["request_id"]: r["body_bytes"] for r in mine}
    for t, target in zip(wl.turns, sizes, strict=True):
        assert [by_id[i] for i in t.request_ids] == t.requests and t.requests[0] == t.request_bytes
        assert abs(t.request_bytes - target) <= max(2_000, 0.01 * target), (target, t.request_bytes)
    # the pasted context is in the session file (the request adds Claude Code's ~100 KB of
    # system prompt and tools, which the session file does not hold)
    assert os.path.getsize(wl.session_file) > 0.95 * (sizes[-1] - claude_code.BASE_BODY)


@pytest.mark.netns
@pytest.mark.slow
@needs_node
def test_h2_persistent_stale_pooled_connection_recovers_on_retry_1(world_runner, claude_folder, tmp_path):
    rw = world_runner(by_name("h2"))
    out = str(tmp_path / "out")
    wl = run_workload(rw, sizes=H2_SIZES, think_time=150, max_retries=RETRIES, out=out, persistent=True,
                      env=ONE_REQUEST_PER_TURN)
    assert wl.persistent and [t.outcome for t in wl.turns] == ["completed"] * len(H2_SIZES), wl.table()
    assert all(H2_IDLE[0] < t.idle < H2_IDLE[1] for t in wl.turns[1:]), wl.table()
    _check_stale_reuse(rw, wl, out)
    _check_persistent_growth(rw, wl, H2_SIZES)


@pytest.mark.netns
@pytest.mark.slow
@needs_node
def test_h2_persistent_idle_past_the_clients_pool_timeout_is_clean(world_runner, claude_folder, tmp_path):
    rw = world_runner(by_name("h2"))
    wl = run_workload(rw, sizes=(100_000, 100_000), think_time=480, max_retries=RETRIES,
                      out=str(tmp_path / "out"), persistent=True, env=ONE_REQUEST_PER_TURN)
    assert [t.outcome for t in wl.turns] == ["completed"] * 2 and wl.api_errors == 0, wl.table()
    assert wl.turns[1].idle > 7.5
    first, second = (_edge_conn(rw, t.request_ids)[0] for t in wl.turns)
    assert second != first  # Claude Code opened a new connection: it had closed the idle one


@pytest.mark.netns
@pytest.mark.slow
@needs_node
def test_h2_persistent_under_bun_reuses_the_stale_connection_past_nodes_timeout(world_runner, claude_folder,
                                                                                 tmp_path):
    """The same 8 s idle under Bun (Claude Code's native build): Bun's pool has not closed
    the connection, so the NAT's lost mapping resets its reuse -- an api_error with the
    field's cause {"code": "ECONNRESET"}, answered at retry 1 on a new connection, at each
    of the two stale turns."""
    _needs_bun()
    rw = world_runner(by_name("h2"))
    out = str(tmp_path / "out")
    wl = run_workload(rw, sizes=(100_000,) * 3, think_time=480, max_retries=RETRIES, out=out,
                      persistent=True, runtime="bun", env=ONE_REQUEST_PER_TURN)
    assert [t.outcome for t in wl.turns] == ["completed"] * 3, wl.table()
    assert all(t.idle > 7.5 for t in wl.turns[1:]), wl.table()
    _check_stale_reuse(rw, wl, out)
    assert analyze([out])["by_code"] == {"ECONNRESET": 2} == dict(_count(out)["codes"])


@pytest.mark.netns
@pytest.mark.slow
@needs_node
def test_control_persistent_keeps_the_connection_and_has_no_api_errors(world_runner, claude_folder, tmp_path):
    rw = world_runner(by_name("control"))
    out = str(tmp_path / "out")
    # turn 2's paste is small, so its idle stays well under Node's ~4 s pool timer even on a
    # loaded machine (with a 2 MB paste CI once saw a new connection); turn 3 still grows to 7 MB
    sizes = (100_000, 500_000, 7_000_000)
    wl = run_workload(rw, sizes=sizes, max_retries=RETRIES, out=out, persistent=True, env=ONE_REQUEST_PER_TURN)
    assert [t.outcome for t in wl.turns] == ["completed"] * len(sizes), wl.table()
    assert [t.attempts for t in wl.turns] == [1] * len(sizes) and wl.api_errors == 0
    _check_persistent_growth(rw, wl, sizes)
    # one process: turn 2 (idle well under ~4 s) reuses turn 1's connection
    assert wl.turns[1].idle < 3.0, wl.table()
    assert _edge_conn(rw, wl.turns[1].request_ids) == _edge_conn(rw, wl.turns[0].request_ids)
    rep = analyze([out])
    assert rep["totals"]["api_errors"] == 0 and rep["totals"]["sessions"] == 1
    assert rep["retry_curve"] == [] and _count(out)["synthetic"] == 0
