"""The field-log analyzer (harness/fieldlog) on session JSONL written here, in tmp_path.

The main fixture is a small ~/.claude/projects tree built by hand so every table has a known
answer (worked out in the comments next to each record):

  project-A  a-<SECRET>/            (the secret is in the folder name, cwd, branch and texts)
    S1  <1MB   Node errors (cause {}), v2.1.104: chain [1] recovered, chain [1,2] recovered,
               then a synthetic "API Error: 529" with no chain, a synthetic non-error message,
               and malformed lines
    S2  1.2MB  Bun errors (cause.code ECONNRESET + path), v2.1.114, maxRetries 3: chain
               [1,2,3] ends in a synthetic "API Error: Unable to connect to API (ECONNRESET)"
    S4  <1MB   S1/subagents/agent-1.jsonl: one untimed Bun EPIPE error (path null), then an
               old-style synthetic "API Error: terminated" (model <synthetic>, no flag)
  project-B  b-other/
    S3  6.5MB  Node, v2.1.112: [1] then [1,2] (the counter restarted), file ends: 2 unknown
  project-C  c-third/
    S5  <1MB   v2.1.92: one error, no preceding event, recovered at 1
    S6  3.5MB  no errors
  project-D  d-empty/
    S7  0 bytes
"""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from harness.__main__ import main
from harness.fieldlog import analyze, field, model, parse_zone, reader, render
from harness.fieldlog.tables import Analyzer, gap_bucket, size_bucket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "hunter2-TOPSECRET-9f3c"
MB = 1024 * 1024
T0 = datetime(2026, 4, 16, 12, 0, 0, tzinfo=UTC)  # Thu; 07:00 at UTC-5
T1 = datetime(2026, 4, 17, 13, 0, 0, tzinfo=UTC)  # Fri; 08:00 at UTC-5
T2 = datetime(2026, 4, 18, 3, 0, 0, tzinfo=UTC)  # Sat; 22:00 (Fri) at UTC-5
SID = {n: f"{n}0000000-aaaa-4bbb-8ccc-{n * 12}" for n in "12357"}
CWD = f"/Users/alice/{SECRET}/work"


def ts(base: datetime, seconds: float) -> str:
    return (base + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def common(sid: str, version: str, uuid: str) -> dict:
    return {"uuid": uuid, "userType": "external", "entrypoint": "cli", "cwd": CWD, "sessionId": sid,
            "version": version, "gitBranch": f"feature/{SECRET}"}


def user(base, s, sid, version="2.1.104", text=f"please fix {SECRET}", n=0):
    return {"parentUuid": None, "isSidechain": False, "type": "user",
            "message": {"role": "user", "content": text}, "timestamp": ts(base, s),
            **common(sid, version, f"u-{sid[:4]}-{s}-{n}")}


def api_error(base, s, attempt, sid, version, bun=False, max_retries=10, path=True, uuid=None):
    if bun:
        cause = {"code": "ECONNRESET", "path": "https://api.anthropic.com/v1/messages?beta=true" if path else None,
                 "errno": 0}
    else:
        cause = {}
    rec = {"parentUuid": None, "isSidechain": False, "type": "system", "subtype": "api_error",
           "level": "error", "cause": cause, "error": {"type": None, "cause": cause},
           "retryInMs": 500.0 * 2 ** (attempt - 1), "retryAttempt": attempt, "maxRetries": max_retries,
           "timestamp": ts(base, s) if s is not None else None,
           **common(sid, version, uuid or f"e-{sid[:4]}-{s}-{attempt}")}
    if s is None:
        del rec["timestamp"]
    return rec


def assistant(base, s, sid, version="2.1.104", text=f"Done: {SECRET}"):
    return {"parentUuid": None, "isSidechain": False,
            "message": {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
                        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"},
            "requestId": "req_011", "type": "assistant", "timestamp": ts(base, s),
            **common(sid, version, f"a-{sid[:4]}-{s}")}


def synthetic(base, s, sid, text, version="2.1.104", flag=True):
    rec = {"parentUuid": None, "isSidechain": False, "type": "assistant", "timestamp": ts(base, s),
           "message": {"id": "x", "model": "<synthetic>", "role": "assistant", "stop_reason": "stop_sequence",
                       "type": "message", "content": [{"type": "text", "text": text}]},
           **common(sid, version, f"y-{sid[:4]}-{s}")}
    if flag:
        rec.update({"error": "unknown", "isApiErrorMessage": True})
    return rec


def snapshot(base, s):
    return {"type": "file-history-snapshot", "messageId": "m",
            "snapshot": {"messageId": "m", "trackedFileBackups": {}, "timestamp": ts(base, s)},
            "isSnapshotUpdate": False}


def write(path, records, pad_to: int = 0, pad_base=None, sid=None) -> None:
    """JSONL; str items are written as raw lines. Padding (long user messages an hour before
    pad_base) goes first, so it never is the event preceding an error."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        n = 0
        size = 0
        while size < pad_to:
            line = json.dumps(user(pad_base, -3600 + n, sid, text=SECRET + " " + "x" * 100_000, n=n)) + "\n"
            f.write(line)
            size += len(line.encode())
            n += 1
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))) + "\n")


MALFORMED = ["not json", '{"type": "user", broken', "[1, 2]", '"just a string"',
             '{"subtype": "api_error", oops}', f"{{garbage {SECRET}}}", ""]
# non-strict: the first five (four by shape, the api_error one when parsed); --strict: six.


@pytest.fixture
def tree(tmp_path):
    projects = tmp_path / "home" / ".claude" / "projects"
    a, b, c, d = (projects / name for name in (f"a-{SECRET}", "b-other", "c-third", "d-empty"))
    s1, s2, s3, s5 = SID["1"], SID["2"], SID["3"], SID["5"]
    write(a / f"{s1}.jsonl", [
        {"type": "permission-mode", "permissionMode": "default", "sessionId": s1},
        snapshot(T0, 0),
        user(T0, 0, s1),
        api_error(T0, 30, 1, s1, "2.1.104"),  # gap 30 s (10-60s)
        assistant(T0, 31.5, s1),  # chain [1] recovered at 1
        user(T0, 100, s1),
        api_error(T0, 100.5, 1, s1, "2.1.104"),  # gap 0.5 s (<1s)
        api_error(T0, 102, 2, s1, "2.1.104"),  # gap 1.5 s (1-10s)
        assistant(T0, 105, s1),  # chain [1,2] recovered at 2
        user(T0, 500, s1),
        synthetic(T0, 510, s1, 'API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}'),
        user(T0, 600, s1),
        synthetic(T0, 601, s1, "No response requested.", flag=False),  # synthetic, not an API error
        *MALFORMED,
    ])
    write(a / f"{s2}.jsonl", [
        user(T1, 0, s2, "2.1.114"),
        api_error(T1, 120, 1, s2, "2.1.114", bun=True, max_retries=3),  # 120 s (1-5min)
        api_error(T1, 121, 2, s2, "2.1.114", bun=True, max_retries=3),  # 1 s (1-10s)
        api_error(T1, 123, 3, s2, "2.1.114", bun=True, max_retries=3),  # 2 s (1-10s)
        synthetic(T1, 130, s2, "API Error: Unable to connect to API (ECONNRESET)", "2.1.114"),
    ], pad_to=int(1.2 * MB), pad_base=T1, sid=s2)
    write(a / s1 / "subagents" / "agent-1.jsonl", [
        user(T0, 700, s1),
        api_error(T0, None, 1, s1, "2.1.114", bun=True, path=False) | {"cause": {"code": "EPIPE", "path": None}},
        synthetic(T0, 720, s1, "API Error: terminated", flag=False),  # old shape: no isApiErrorMessage
    ])
    write(b / f"{s3}.jsonl", [
        user(T2, 0, s3, "2.1.112"),
        api_error(T2, 2000, 1, s3, "2.1.112"),  # 2000 s (>30min)
        api_error(T2, 2400, 1, s3, "2.1.112"),  # restart -> previous chain unknown; 400 s (5-30min)
        api_error(T2, 2410, 2, s3, "2.1.112"),  # 10 s (10-60s); file ends -> unknown
    ], pad_to=int(6.5 * MB), pad_base=T2, sid=s3)
    write(c / f"{s5}.jsonl", [
        {"type": "permission-mode", "permissionMode": "default", "sessionId": s5},
        snapshot(T0, 69),
        api_error(T0, 70, 1, s5, "2.1.92"),  # no preceding event
        assistant(T0, 75, s5, "2.1.92"),  # recovered at 1
    ])
    write(c / f"{SID['7']}.jsonl", [user(T0, 0, SID["7"])], pad_to=int(3.5 * MB), pad_base=T0, sid=SID["7"])
    os.makedirs(d)
    (d / "empty.jsonl").write_bytes(b"")
    (projects / "notes.txt").write_text(SECRET)  # not *.jsonl: ignored
    return tmp_path


def line_count(root) -> int:
    n = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".jsonl"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    n += sum(1 for _ in f)
    return n


def expected_tables() -> dict:
    return {
        "by_code": {"unknown": 7, "ECONNRESET": 3, "EPIPE": 1},
        "cause_path": {"present": 3, "absent": 8},
        "by_version": {"2.1.114": 4, "2.1.104": 3, "2.1.112": 3, "2.1.92": 1},
        "by_max_retries": {"10": 8, "3": 3},
        "by_project": [
            {"project": "project-A", "sessions": 3, "sessions_with_errors": 3, "errors": 7},
            {"project": "project-B", "sessions": 1, "sessions_with_errors": 1, "errors": 3},
            {"project": "project-C", "sessions": 2, "sessions_with_errors": 1, "errors": 1},
            {"project": "project-D", "sessions": 1, "sessions_with_errors": 0, "errors": 0},
        ],
        "size_buckets": [
            {"bucket": "<1MB", "sessions": 4, "sessions_with_errors": 3, "errors": 5,
             "errors_per_affected_session": 1.6667, "share_of_sessions": 0.5714, "share_of_errors": 0.4545},
            {"bucket": "1-3MB", "sessions": 1, "sessions_with_errors": 1, "errors": 3,
             "errors_per_affected_session": 3.0, "share_of_sessions": 0.1429, "share_of_errors": 0.2727},
            {"bucket": "3-6MB", "sessions": 1, "sessions_with_errors": 0, "errors": 0,
             "errors_per_affected_session": None, "share_of_sessions": 0.1429, "share_of_errors": 0.0},
            {"bucket": ">=6MB", "sessions": 1, "sessions_with_errors": 1, "errors": 3,
             "errors_per_affected_session": 3.0, "share_of_sessions": 0.1429, "share_of_errors": 0.2727},
        ],
        "retry_curve": [
            {"attempt": 1, "triggered": 7, "recovered": 2, "rate": 0.2857},
            {"attempt": 2, "triggered": 3, "recovered": 1, "rate": 0.3333},
            {"attempt": 3, "triggered": 1, "recovered": 0, "rate": 0.0},
        ],
        "chains": {"total": 7, "recovered": 3, "unrecovered": 2, "unknown": 2, "exhausted": 1,
                   "unknown_by_reason": {"end_of_file": 1, "restarted": 1, "user_record": 0, "other_synthetic": 0}},
        "synthetic_api_errors": {"count": 3, "kinds": {"connect(ECONNRESET)": 1, "http(529)": 1,
                                                        "terminated": 1}},
        "gaps": {"<1s": 1, "1-10s": 3, "10-60s": 2, "1-5min": 1, "5-30min": 1, ">30min": 1},
        "gap_stats": {"n": 9, "no_preceding_event": 1, "median_s": 10.0, "p90_s": 2000.0},
        # machine-wide: S1 30 | S5 70 | S1 100.5, 102 -> one run of 4; S2 3; S3 2400, 2410
        # per session: S1 {100.5, 102}; S2 3; S3 2
        "bursts": {"window_s": 60.0, "scope": "machine", "count": 3, "errors_in_bursts": 9, "share": 0.9,
                   "same_session": {"count": 3, "errors_in_bursts": 7}},
        "by_day_utc": {"2026-04-16": 4, "2026-04-17": 3, "2026-04-18": 3},
        "by_weekday_utc": {"Mon": 0, "Tue": 0, "Wed": 0, "Thu": 4, "Fri": 3, "Sat": 3, "Sun": 0},
        "by_hour_local": {f"{h:02d}": {7: 4, 8: 3, 22: 3}.get(h, 0) for h in range(24)},
    }


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["fieldlog", *args])
    out, err = capsys.readouterr()
    return code, out, err


# -- the tables --------------------------------------------------------------------------


def test_tables_exact(tree, capsys):
    code, out, err = run_cli(capsys, str(tree / "home" / ".claude" / "projects"), "--json", "--tz=-05:00")
    assert code == 0 and err == ""
    rep = json.loads(out)
    for key, want in expected_tables().items():
        assert rep[key] == want, key
    assert rep["tz"] == "UTC-05:00"
    assert rep["totals"] == {
        "files": 7, "unreadable_files": 0, "bytes": rep["totals"]["bytes"], "projects": 4,
        "projects_with_errors": 3, "sessions": 7, "sessions_with_errors": 5,
        "session_ids_in_errors": 4,  # the subagent file's error carries S1's sessionId
        "api_errors": 11, "api_errors_untimed": 1, "api_errors_without_attempt": 0,
        "duplicate_api_errors": 0, "versions": 4}
    assert rep["totals"]["bytes"] > 11 * MB
    assert rep["malformed_lines"] == 5 == rep["lines"]["malformed"]
    assert rep["lines"]["blank"] == 1 and rep["lines"]["oversize"] == 0
    assert rep["lines"]["total"] == line_count(tree)
    # lazily parsed: far fewer lines than there are
    assert rep["lines"]["parsed"] < rep["lines"]["total"] / 2
    aff = rep["affected_sessions"]
    assert sorted((a["project"], a["bucket"], a["errors"]) for a in aff) == [
        ("project-A", "1-3MB", 3), ("project-A", "<1MB", 1), ("project-A", "<1MB", 3),
        ("project-B", ">=6MB", 3), ("project-C", "<1MB", 1)]
    assert [a["errors"] for a in aff] == [3, 3, 3, 1, 1]  # most errors first
    s1 = next(a for a in aff if a["errors"] == 3 and a["bucket"] == "<1MB")
    assert (s1["first"], s1["last"]) == ("2026-04-16T12:00:30Z", "2026-04-16T12:01:42Z")
    assert s1["session"] == reader.session_label(SID["1"] + ".jsonl")


def test_text_tables(tree, capsys):
    code, out, _ = run_cli(capsys, str(tree / "home"), "--tz", "UTC-5")
    assert code == 0
    blocks = {
        "By session-file size": [
            "  size   sessions  share  with errors  errors  share of errors  errors/affected session",
            "  -----  --------  -----  -----------  ------  ---------------  -----------------------",
            "  <1MB          4  57.1%            3       5            45.5%                      1.7",
            "  1-3MB         1  14.3%            1       3            27.3%                      3.0",
            "  3-6MB         1  14.3%            0       0             0.0%                        -",
            "  >=6MB         1  14.3%            1       3            27.3%                      3.0",
        ],
        "Retry attempts": [
            "  attempt  triggered  recovered   rate",
            "  -------  ---------  ---------  -----",
            "  1                7          2  28.6%",
            "  2                3          1  33.3%",
            "  3                1          0   0.0%",
            "  failure chains: 7 = 3 recovered + 2 unrecovered (synthetic API Error; 1 at maxRetries) + 2 unknown"
            " (end of file 1, restarted 1)",
        ],
        "Gap from the preceding event": [
            "  <1s          1", "  1-10s        3", "  10-60s       2", "  1-5min       1", "  5-30min      1",
            "  >30min       1", "  median 10.0 s, p90 2000.0 s (n=9; no preceding event: 1)",
        ],
        "Per local hour (UTC-05:00)": [
            "  07 4 ##################################################",
            "  08 3 ######################################",
            "  22 3 ######################################",
        ],
        "Per UTC day": [
            "  2026-04-16 4 ##################################################",
            "  2026-04-17 3 ######################################",
            "  2026-04-18 3 ######################################",
        ],
    }
    lines = out.splitlines()
    for head, want in blocks.items():
        i = next(n for n, ln in enumerate(lines) if ln.startswith(head))
        window = lines[i + 1:i + 4 + len(want)]  # the heading's table (after its header rows)
        assert any(window[k:k + len(want)] == want for k in range(4)), (head, window)
    assert "errors/affected session" in out
    assert "Per weekday (UTC): Mon 0, Tue 0, Wed 0, Thu 4, Fri 3, Sat 3, Sun 0" in out
    assert "  3 bursts, 9 errors in bursts (90.0% of timed errors); within single sessions: 3 bursts, 7 errors" in out
    assert 'Synthetic "API Error" assistant turns: 3' in out
    assert "  unknown         7  63.6%" in out and "  ECONNRESET      3  27.3%" in out
    assert "cause.path present: 3, absent/null: 8; maxRetries: 10 x8, 3 x3" in out
    assert "Malformed lines: 5" in out


def test_strict_counts_every_malformed_line(tree):
    rep = analyze([str(tree)], "UTC", strict=True)
    assert rep["malformed_lines"] == 6  # + "{garbage ...}", which only a full parse finds
    lazy = analyze([str(tree)], "UTC")
    assert rep["lines"]["parsed"] > lazy["lines"]["parsed"]
    for key in ("by_code", "retry_curve", "chains", "gaps", "bursts", "size_buckets"):
        assert rep[key] == lazy[key]


def test_zones(tree):
    utc = analyze([str(tree)], "UTC")["by_hour_local"]
    assert {h: v for h, v in utc.items() if v} == {"03": 3, "12": 4, "13": 3}
    chicago = analyze([str(tree)], "America/Chicago")  # CDT in April = UTC-5
    assert {h: v for h, v in chicago["by_hour_local"].items() if v} == {"07": 4, "08": 3, "22": 3}
    assert chicago["tz"] == "America/Chicago"
    assert parse_zone("+0530").label == "UTC+05:30" and parse_zone("-5").label == "UTC-05:00"
    assert parse_zone("Z").label == "UTC" and parse_zone(None).label.startswith("local")
    for bad in ("Mars/Olympus", "+25", "UTC+5:99"):
        with pytest.raises(ValueError):
            parse_zone(bad)


# -- chains, shapes ----------------------------------------------------------------------


def test_real_claude_code_session(tmp_path):
    """Claude Code 2.1.104 interactive, RST before headers, max_retries 2 (captured against
    the mock origin; abridged): cause {} under Node, then the synthetic API Error message."""
    sid = "0528d903-1897-4c58-ab87-5ddb3d9a0e69"
    base = {"userType": "external", "entrypoint": "cli", "cwd": "/tmp/rl-claude-x/project", "sessionId": sid,
            "version": "2.1.104", "gitBranch": "HEAD"}
    recs = [
        {"type": "permission-mode", "permissionMode": "default", "sessionId": sid},
        {"type": "file-history-snapshot", "messageId": "e9", "snapshot": {"messageId": "e9", "trackedFileBackups": {},
                                                                           "timestamp": "2026-11-27T00:29:58.850Z"},
         "isSnapshotUpdate": False},
        {"parentUuid": None, "isSidechain": False, "promptId": "e6", "type": "user",
         "message": {"role": "user", "content": "Reply with one word."}, "uuid": "e9",
         "timestamp": "2026-11-27T00:29:58.849Z", "permissionMode": "default", **base},
        {"parentUuid": "e9", "isSidechain": False, "attachment": {"type": "skill_listing", "content": "...",
                                                                   "skillCount": 5, "isInitial": True},
         "type": "attachment", "uuid": "62", "timestamp": "2026-11-27T00:29:58.848Z", **base},
        {"parentUuid": "62", "isSidechain": False, "type": "system", "subtype": "api_error", "level": "error",
         "cause": {}, "error": {"type": None, "cause": {}}, "retryInMs": 564.7895498772189, "retryAttempt": 1,
         "maxRetries": 2, "timestamp": "2026-11-27T00:29:59.000Z", "uuid": "65", **base},
        {"parentUuid": "65", "isSidechain": False, "type": "system", "subtype": "api_error", "level": "error",
         "cause": {}, "error": {"type": None, "cause": {}}, "retryInMs": 1041.2951867349202, "retryAttempt": 2,
         "maxRetries": 2, "timestamp": "2026-11-27T00:29:59.579Z", "uuid": "31", **base},
        {"parentUuid": "31", "isSidechain": False, "type": "assistant", "uuid": "45",
         "timestamp": "2026-11-27T00:30:00.696Z",
         "message": {"id": "d1", "container": None, "model": "<synthetic>", "role": "assistant",
                     "stop_reason": "stop_sequence", "stop_sequence": "", "type": "message",
                     "usage": {"input_tokens": 0, "output_tokens": 0},
                     "content": [{"type": "text", "text": "API Error: Unable to connect to API (ECONNRESET)"}],
                     "context_management": None},
         "error": "unknown", "isApiErrorMessage": True, **base},
        {"type": "last-prompt", "lastPrompt": "Reply with one word.", "sessionId": sid},
    ]
    write(tmp_path / "projects" / "-tmp-rl-claude-x-project" / f"{sid}.jsonl", recs)
    rep = analyze([str(tmp_path)], "UTC")
    assert rep["by_code"] == {"unknown": 2} and rep["by_version"] == {"2.1.104": 2}
    assert rep["retry_curve"] == [{"attempt": 1, "triggered": 1, "recovered": 0, "rate": 0.0},
                                  {"attempt": 2, "triggered": 1, "recovered": 0, "rate": 0.0}]
    assert rep["chains"] == {"total": 1, "recovered": 0, "unrecovered": 1, "unknown": 0, "exhausted": 1,
                             "unknown_by_reason": {"end_of_file": 0, "restarted": 0, "user_record": 0, "other_synthetic": 0}}
    assert rep["synthetic_api_errors"] == {"count": 1, "kinds": {"connect(ECONNRESET)": 1}}
    # first error: 0.151 s after the user record (the attachment is stamped earlier)
    assert rep["gaps"]["<1s"] == 2 and rep["gap_stats"]["median_s"] == 0.365
    assert rep["by_project"][0]["project"] == "project-A" and rep["malformed_lines"] == 0


def test_field_report_excerpt_shapes(tmp_path):
    """Appendix A: no "type", "error": {} without a cause, Bun cause with path."""
    lines = [
        {"subtype": "api_error", "error": {}, "retryInMs": 611.7, "retryAttempt": 1, "maxRetries": 10,
         "timestamp": "2026-04-14T02:19:48.195Z", "sessionId": "4c4f", "version": "2.1.92", "gitBranch": "main"},
        {"subtype": "api_error", "level": "error",
         "error": {"type": None, "cause": {"code": "ECONNRESET", "path": "https://x/v1/messages", "errno": 0}},
         "retryInMs": 503.1, "retryAttempt": 2, "maxRetries": 10, "timestamp": "2026-04-14T03:07:30.074Z",
         "sessionId": "fab7", "version": "2.1.104"},
        {"type": "user", "subtype": "api_error", "timestamp": "2026-04-14T03:08:00Z"},  # not a system record
        {"type": "system", "subtype": "api_error", "retryAttempt": "3", "version": "2.1.104; rm -rf /",
         "cause": {"code": "ECONN RESET <script>"}, "timestamp": "garbage"},
    ]
    write(tmp_path / "s.jsonl", lines)
    rep = analyze([str(tmp_path / "s.jsonl")], "UTC")
    assert rep["totals"]["api_errors"] == 3
    assert rep["by_code"] == {"ECONNRESET": 1, "other": 1, "unknown": 1}
    assert rep["by_version"] == {"2.1.104": 1, "2.1.92": 1, "other": 1}
    assert rep["totals"]["api_errors_without_attempt"] == 1 and rep["totals"]["api_errors_untimed"] == 1
    assert rep["cause_path"] == {"present": 1, "absent": 2}
    assert rep["by_max_retries"] == {"10": 2, "unknown": 1}


def test_chain_rules():
    """Main thread and sidechain chains are kept apart; a user record or a non-error synthetic
    message ends a chain as unknown; a duplicate uuid is counted."""
    sid = SID["1"]

    def side(r):
        return r | {"isSidechain": True}

    recs = [
        user(T0, 0, sid),
        api_error(T0, 1, 1, sid, "2.1.104", uuid="dup"),
        side(api_error(T0, 2, 1, sid, "2.1.104", uuid="dup")),
        side(assistant(T0, 3, sid)),  # closes only the sidechain chain: recovered at 1
        api_error(T0, 4, 2, sid, "2.1.104"),
        synthetic(T0, 5, sid, "API Error: ECONNRESET: The socket connection was closed unexpectedly."),
        api_error(T0, 10, 1, sid, "2.1.104"),
        user(T0, 11, sid, text="[Request interrupted by user]"),  # unknown (user_record)
        assistant(T0, 12, sid),  # no chain open: nothing
        api_error(T0, 20, 1, sid, "2.1.104"),
        synthetic(T0, 21, sid, "No response requested.", flag=False),  # unknown (other_synthetic)
    ]
    an = Analyzer(parse_zone("UTC"))
    an.add_file(reader.SessionFile("x", "project-A", "s-00000000"),
                (reader.Line(json.dumps(r).encode() + b"\n", 1) for r in recs))
    rep = an.report()
    assert rep["chains"] == {"total": 4, "recovered": 1, "unrecovered": 1, "unknown": 2, "exhausted": 0,
                             "unknown_by_reason": {"end_of_file": 0, "restarted": 0, "user_record": 1,
                                                   "other_synthetic": 1}}
    assert rep["retry_curve"][0] == {"attempt": 1, "triggered": 4, "recovered": 1, "rate": 0.25}
    assert rep["synthetic_api_errors"]["kinds"] == {"ECONNRESET": 1}
    assert rep["totals"]["duplicate_api_errors"] == 1


def test_model_helpers():
    assert [size_bucket(n) for n in (0, MB - 1, MB, 3 * MB - 1, 3 * MB, 6 * MB - 1, 6 * MB)] == \
        ["<1MB", "<1MB", "1-3MB", "1-3MB", "3-6MB", "3-6MB", ">=6MB"]
    assert [gap_bucket(s) for s in (-2, 0.99, 1, 9.9, 10, 59.9, 60, 299, 300, 1799, 1800)] == \
        ["<1s", "<1s", "1-10s", "1-10s", "10-60s", "10-60s", "1-5min", "1-5min", "5-30min", "5-30min", ">30min"]
    kinds = {"API Error: Unable to connect to API (ECONNREFUSED)": "connect(ECONNREFUSED)",
             "API Error: terminated": "terminated", "Request timed out": "timeout",
             'API Error: {"type":"error"}': "sse_error", "API Error: 500 {}": "http(500)",
             f"API Error: something {SECRET}": "other"}
    for text, kind in kinds.items():
        rec = synthetic(T0, 0, "s", text)
        assert model.assistant_kind(rec) == model.SYNTHETIC_API_ERROR and model.synthetic_kind(rec) == kind
    assert model.assistant_kind(assistant(T0, 0, "s", text="API Error: a real answer about errors")) == model.REAL
    assert model.assistant_kind(synthetic(T0, 0, "s", "No response requested.", flag=False)) == model.SYNTHETIC_OTHER
    assert model.assistant_kind(user(T0, 0, "s")) is None
    assert reader._label(0) == "A" and reader._label(25) == "Z" and reader._label(26) == "AA"
    assert model.parse_ts("2026-04-14T03:07:30.074Z") == datetime(2026, 4, 14, 3, 7, 30, 74000, UTC).timestamp()
    assert model.parse_ts("nope") is None and model.parse_ts(5) is None


# -- streaming ------------------------------------------------------------------------------


class NoRead(io.BufferedReader):
    """A file that may only be read line by line."""

    def read(self, *a, **k):
        raise AssertionError("read() called")

    def readlines(self, *a, **k):
        raise AssertionError("readlines() called")

    def readall(self):
        raise AssertionError("readall() called")


def test_never_reads_a_whole_file(tree, monkeypatch):
    calls = []

    def opener(path):
        calls.append(path)
        return NoRead(io.FileIO(path, "rb"), buffer_size=64 * 1024)

    monkeypatch.setattr(reader, "open_binary", opener)
    rep = analyze([str(tree)], "-05:00")
    assert len(calls) == 7 and rep["totals"]["api_errors"] == 11
    assert rep["chains"] == expected_tables()["chains"]


def test_memory_stays_small_on_a_big_file(tmp_path):
    """~8 MB of lines (and one 3 MB line) analyzed with a peak far below the file size."""
    sid = SID["1"]
    path = tmp_path / "projects" / "p" / "big.jsonl"
    os.makedirs(path.parent)
    with open(path, "w") as f:
        for i in range(4000):
            f.write(json.dumps(user(T0, i, sid, text="y" * 2000)) + "\n")
            if i % 500 == 499:
                f.write(json.dumps(api_error(T0, i + 0.5, 1, sid, "2.1.104")) + "\n")
                f.write(json.dumps(assistant(T0, i + 0.7, sid)) + "\n")
        f.write(json.dumps(api_error(T0, 5000, 1, sid, "2.1.104")) + "\n")
        f.write(json.dumps(assistant(T0, 5001, sid, text="z" * (3 * MB))) + "\n")  # oversize, real
    size = os.path.getsize(path)
    assert size > 11 * MB
    tracemalloc.start()
    try:
        rep = analyze([str(path)], "UTC", max_line=256 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MB, peak
    assert rep["totals"]["api_errors"] == 9 and rep["lines"]["oversize"] == 1
    assert rep["chains"]["recovered"] == 9  # the last one by the over-long real answer
    assert rep["lines"]["total"] == 4000 + 8 * 2 + 2
    assert rep["lines"]["parsed"] <= 9 * 3  # errors, their preceding events, open-chain answers


def test_iter_lines_is_lazy_and_bounded():
    class Src:
        def __init__(self):
            self.buf = io.BytesIO(b"a\n" + b"b" * 5000 + b"\n" + b"c" * 10 + b"\nlast")
            self.sizes = []

        def readline(self, size=-1):
            self.sizes.append(size)
            return self.buf.readline(size)

    src = Src()
    it = reader.iter_lines(src, max_line=1024, fragment=16)
    first = next(it)
    assert first.data == b"a\n" and len(src.sizes) == 1  # one line read, nothing more
    big = next(it)
    assert big.oversize and big.nbytes == 5001 and big.head == b"b" * 16 and big.tail == b"b" * 15 + b"\n"
    assert [ln.data for ln in it] == [b"c" * 10 + b"\n", b"last"]
    assert all(0 < s <= max(1025, reader.CHUNK) for s in src.sizes)


def test_only_needed_lines_are_parsed(tmp_path, monkeypatch):
    sid = SID["1"]
    recs = [user(T0, i, sid) for i in range(1000)] + [
        api_error(T0, 1000.5, 1, sid, "2.1.104"),  # parsed, and the line before it (lazily)
        assistant(T0, 1001, sid),  # parsed: a chain is open
        assistant(T0, 1002, sid)]  # not parsed
    write(tmp_path / "s.jsonl", recs)
    seen = []
    real = model.loads
    monkeypatch.setattr(model, "loads", lambda data: seen.append(data) or real(data))
    rep = analyze([str(tmp_path / "s.jsonl")], "UTC")
    assert len(seen) == 3 == rep["lines"]["parsed"] and rep["lines"]["total"] == 1003
    assert rep["gaps"]["1-10s"] == 1 and rep["chains"]["recovered"] == 1


# -- redaction, CLI, schema -------------------------------------------------------------------


def test_no_content_or_path_in_output(tree, capsys):
    root = tree / "home" / ".claude" / "projects"
    outputs = []
    for args in ([str(root)], [str(root), "--json"], [str(tree), "--strict", "--tz", "UTC"],
                 [str(root / f"a-{SECRET}" / f"{SID['1']}.jsonl"), "--json"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 0
        outputs.append(out + err)
    for text in outputs:
        for needle in (SECRET, "hunter2", str(tree), tree.name, "alice", "b-other", "c-third", "d-empty",
                       "agent-1", "subagents", "please fix", "Done:", "overloaded_error", "feature/",
                       "api.anthropic.com", *SID.values(), *(s[:8] for s in SID.values())):
            assert needle not in text, needle
    assert "project-A" in outputs[0] and "project-D" in outputs[0]


def test_cli_errors_do_not_echo_paths(tmp_path, capsys):
    code, out, err = run_cli(capsys, str(tmp_path / SECRET / "missing.jsonl"))
    assert code == 2 and SECRET not in err and "#1" in err
    code, out, err = run_cli(capsys, str(tmp_path), "--tz", "Nowhere/" + SECRET)
    assert code == 2 and "--tz" in err
    code, out, err = run_cli(capsys, str(tmp_path), "--max-line-bytes", "10")
    assert code == 2


def test_unreadable_file_is_counted(tmp_path, monkeypatch):
    write(tmp_path / "p" / "a.jsonl", [user(T0, 0, "s")])
    write(tmp_path / "p" / "b.jsonl", [api_error(T0, 5, 1, "s", "2.1.104")])

    def opener(path):
        if path.endswith("a.jsonl"):
            raise PermissionError(13, "denied", path)
        return open(path, "rb")

    monkeypatch.setattr(reader, "open_binary", opener)
    rep = analyze([str(tmp_path)], "UTC")
    assert rep["totals"]["unreadable_files"] == 1 and rep["totals"]["api_errors"] == 1


def test_json_matches_schema(tree, capsys):
    with open(os.path.join(ROOT, "schema", "fieldlog.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    _, out, _ = run_cli(capsys, str(tree), "--json", "--tz", "America/Chicago")
    jsonschema.validate(json.loads(out), schema, cls=jsonschema.Draft202012Validator)
    empty = analyze([str(tree / "home" / ".claude" / "projects" / "d-empty")], "UTC")
    jsonschema.validate(empty, schema, cls=jsonschema.Draft202012Validator)
    assert "(none)" in render.render(empty)
    bad = json.loads(out) | {"extra": 1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


# -- the field report's own figures ---------------------------------------------------------------


def test_field_report_figures():
    doc = field.load()
    figs = doc["figures"]
    assert all(isinstance(f.get("source"), str) and f["source"] and "value" in f for f in figs.values())
    v = {k: f["value"] for k, f in figs.items()}
    assert v["api_errors"] == 325 and v["by_code"]["ECONNRESET"] == 325
    assert v["sessions_with_errors"] == 17 and v["versions"] == 13 == len(v["version_list"])
    assert sum(v["cause_path"].values()) == 325
    curve = v["retry_curve"]
    assert sum(r["triggered"] for r in curve) == 325
    assert [round(r["recovered"] / r["triggered"], 3) for r in curve] == [r["rate"] for r in curve]
    assert round(curve[0]["rate"], 2) == 0.64 and round(curve[1]["rate"], 2) == 0.23
    for a, b in zip(curve, curve[1:], strict=False):
        assert b["triggered"] == a["triggered"] - a["recovered"]
    assert sum(v["gaps"].values()) == 325 and list(v["gaps"]) == list(expected_tables()["gaps"])
    assert sum(v["by_hour_local"]["counts"].values()) == 325
    assert sum(v["by_weekday_utc"].values()) == 325
    assert sum(v["by_day_utc"].values()) == 324  # top ten only
    assert [b["bucket"] for b in v["size_buckets"]] == ["<1MB", "1-3MB", "3-6MB", ">=6MB"]
    assert sum(b["errors"] for b in v["size_buckets"]) == 173 == sum(v["by_project"].values())
    assert sum(b["sessions"] for b in v["size_buckets"]) == v["sessions_on_disk"]
    assert round(129 / 173, 3) == v["large_session_share"]["share_of_errors"]
    assert v["bursts"]["count"] == 36 and v["bursts"]["errors_in_bursts"] == 181
    assert field.figure("api_errors") == 325
    # the tables the fit (harness/fit) adds: each row's CLI count fits its hour in §4.2
    hours = v["by_hour_local"]["counts"]
    rows = v["link_event_correlation"]["rows"]
    assert all(r["cli_econnresets"] <= hours[r["local_hour"][11:13]] for r in rows)
    assert sum(r["cli_econnresets"] for r in rows) == 115 and v["link_event_correlation"]["co_timed_share_stated"]["errors"] == 71
    assert [t["minutes"] for t in v["longest_failing_turns"]] == [20.7, 16.4]
    assert v["distinct_turn_failures"]["bursts"] == v["bursts"]["count"]
    assert v["distinct_turn_failures"]["bursts"] + v["distinct_turn_failures"]["singletons"] == 180
    assert v["retry_exhaustion_minutes"]["min"] < v["retry_exhaustion_minutes"]["max"]


REPORT = os.environ.get("RESETLAB_FIELD_REPORT", "/work/shared/reference/field-report.txt")


@pytest.mark.skipif(not os.path.isfile(REPORT), reason="the field report text is not available here")
def test_field_report_sources_quote_the_report():
    """Every quoted fragment of every figure's source is verbatim in the report."""
    import re

    with open(REPORT, encoding="utf-8") as f:
        text = f.read()
    for name, fig in field.load()["figures"].items():
        quotes = re.findall(r'"([^"]{6,})"', fig["source"]) + re.findall(r"'([^']{6,})'", fig["source"])
        assert quotes, name
        for q in quotes:
            assert q in text, (name, q)
