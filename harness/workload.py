"""Claude Code workload runner: real Claude Code, one session of turns with growing context,
inside a running world, writing its own session JSONL (issue 7, "Lab vs field").

    with RunningWorld(by_name("h5")) as rw:
        wl = run_workload(rw, sizes=(100_000, 1_000_000, 3_000_000, 7_000_000), out="out/")
    harness.fieldlog.analyze([wl.out_dir])      # the field report's tables for these logs

One throwaway HOME and project folder (harness.clients.claude_code.make_home) serve every
turn, so one session file accumulates as a field user's does. Each turn is an interactive
Claude Code 2.1.104 turn (`cli.js` on Node, on a pseudo-terminal) run from the client's
namespace against rw.base_url: the first turn starts the session, the others continue it
with `--resume <sessionId>` (which appends to the same file: measured), so Claude Code
itself sends the whole history.

How the context grows: before a turn whose target size (`sizes[i]`, request body bytes)
is above what the session would send anyway (the previous turn's request at the origin +
a little), the runner appends one synthetic exchange to the session file - a user record
whose text is the missing bytes (JSON-escaped length counted) and a short assistant reply,
chained by parentUuid to the file's last message. On resume Claude Code loads the chain
and sends it, so the request at the origin grows by about that much (checked per turn:
`Turn.request_bytes`, the origin's body_bytes of the turn's first conversation request).
The synthetic assistant record carries a tiny `usage`, and DISABLE_AUTO_COMPACT=1 plus a huge
CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE keep Claude Code from compacting or refusing a context
that is far above a real model's window (the mock reports input_tokens = body bytes / 4).

Persistent mode (`persistent=True`, `--persistent`): ONE interactive Claude Code process
(claude_code.Tui) for every turn, so its HTTP connection pool carries over between turns as
in a real user's session. The context grows through the prompt instead: a turn's missing
bytes are pasted (bracketed paste; Claude Code shows "[Pasted text #N]" and sends the whole
text) ahead of the prompt, so the session file holds them too. The next turn's text is put
in the input box right after the previous turn and Enter is pressed think time (scaled)
after the previous turn's last request finished at the origin; `Turn.idle` is the idle time
so measured. The runner's own floor is ~1.5 s plus the paste (2-3 s for 2-7 MB): a shorter
scaled think time gives that instead. Every turn carries the process's one probe id; a
turn's requests are the origin's records from the turn's start on. Claude Code on Node closes
a pooled connection idle ~4 s (unscaled), which bounds what a world's idle limit can do to it;
on Bun the pool keeps it ~300 s, with a TCP keepalive after 60 s idle (harness/clients/README.md).

Bounded: CLAUDE_CODE_MAX_RETRIES = max_retries (default 2); think time between turns and
the answer's duration are field seconds, scaled by the world's time_scale; each turn's
deadline is claude_code.default_deadline() of its probe (whose API_TIMEOUT_MS comes from
RunningWorld.client_probe, i.e. the scaled world) plus upload time.

Afterwards the session files ($HOME/.claude/projects/<project>/<session>.jsonl) are copied
to `out/projects/`, the per-turn table to `out/workload.json` and Claude Code's debug logs
to `out/debug/turn-N.txt` (persistent: `out/debug/session.txt` and each turn's screen in
`out/debug/screen-N.txt`); `out` defaults to a new temp folder that the caller removes.
Nothing else is under out/, so `analyze([out])` reads exactly the session files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from harness.clients import claude_code
from harness.clients.common import api_key
from harness.clients.context import filler
from harness.clients.retries import PROBE_ID_HEADER
from harness.worlds.compile import compile_world
from harness.worlds.model import ProbeSpec
from netem.errors import ConfigError, check_choice

# Field-like request sizes (bytes): the field report's session buckets are <1, 1-3, 3-6, >=6 MB.
DEFAULT_SIZES = (100_000, 1_000_000, 3_000_000, 7_000_000)
DEFAULT_RETRIES = 2
DEFAULT_THINK = 30.0  # field seconds between turns
DEFAULT_ANSWER = 10.0  # field seconds of streamed answer
# What a resumed turn adds to the request beyond the synthetic bytes: the new prompt, the
# previous answer and record framing (measured: 450-480 bytes with the default answer).
TURN_OVERHEAD = 500
PASTE_OVERHEAD = 380  # the same for a persistent turn, whose context is pasted into the prompt
PROMPT = "Reply with one word."
SYNTHETIC_REPLY = "Noted."
NO_COMPACT_ENV = {"DISABLE_AUTO_COMPACT": "1", "CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE": str(10**9)}
UPLOAD_BYTES_PER_S = 2e6  # allowance for the lab's own (unscaled) upload, as client_probe does


@dataclass
class Turn:
    index: int  # 1-based
    target: int  # requested size of the turn's request (bytes)
    padded: int  # bytes of synthetic context appended before the turn
    request_bytes: int  # the origin's body_bytes of the turn's first conversation request (0: none)
    requests: list[int]  # body_bytes of each conversation request of the turn (attempts)
    probe_id: str  # the x-resetlab-probe-id header of every request of the turn
    outcome: str  # ProbeRecord.label
    kind: str  # ProbeRecord.outcome
    attempts: int
    api_errors: int  # system/api_error records Claude Code wrote during the turn
    synthetic_error: bool  # the turn ended in an "API Error" assistant message
    message: str | None  # what Claude Code showed
    wall: float  # seconds to turn over: from process start (~1-2 s of start-up), or from
    # Enter for a persistent session's later turns
    session_bytes: int  # size of the session file after the turn
    # lab seconds from the previous turn's last request finishing at the origin to this
    # turn's Enter: how long the connections stayed idle (None: the first turn)
    idle: float | None = None
    retry_attempts: list[int] = field(default_factory=list)  # retryAttempt of each api_error
    request_ids: list[str] = field(default_factory=list)  # the origin's ids of `requests`


@dataclass
class Workload:
    world: str
    out_dir: str
    session_id: str
    session_file: str  # the copy under out_dir/projects
    max_retries: int
    sizes: tuple[int, ...]
    persistent: bool = False  # one Claude Code process for all turns
    think_time: float = DEFAULT_THINK  # field seconds
    turns: list[Turn] = field(default_factory=list)
    wall: float = 0.0

    @property
    def api_errors(self) -> int:
        return sum(t.api_errors for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["api_errors"] = self.api_errors
        d["session_file"] = os.path.relpath(self.session_file, self.out_dir) if self.session_file else ""
        d.pop("out_dir")
        return d

    def table(self) -> str:
        head = ("turn", "target", "sent", "idle s", "attempts", "outcome", "api_errors", "wall s", "session")
        rows = [(str(t.index), _mb(t.target), _mb(t.request_bytes), "-" if t.idle is None else f"{t.idle:.1f}",
                 str(t.attempts), t.outcome, str(t.api_errors) + (f" (retry {','.join(map(str, t.retry_attempts))})"
                                                                   if t.retry_attempts else ""),
                 f"{t.wall:.1f}", _mb(t.session_bytes)) for t in self.turns]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} KB"


# -- the session file ------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _last_uuid(path: str) -> str | None:
    last = None
    with open(path, "rb") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("uuid") and rec.get("type") in ("user", "assistant", "attachment", "system"):
                last = rec["uuid"]
    return last


def project_dir(home: str, project: str) -> str:
    """Where Claude Code keeps a project's sessions: every non-alphanumeric character of the
    path becomes "-" (measured: /tmp/x/project -> -tmp-x-project)."""
    name = "".join(c if c.isalnum() and c.isascii() else "-" for c in project)
    return os.path.join(home, ".claude", "projects", name)


def append_exchange(path: str, session_id: str, project: str, nbytes: int, seed: int = 0) -> int:
    """Append a synthetic user record of `nbytes` text (JSON-encoded length) and a short
    assistant reply to a session file, chained to its last message; returns bytes written."""
    parent = _last_uuid(path) if os.path.exists(path) else None
    common = {"isSidechain": False, "userType": "external", "entrypoint": "cli", "cwd": project,
              "sessionId": session_id, "version": claude_code.version() or "2.1.104"}
    user = {"parentUuid": parent, **common, "type": "user",
            "message": {"role": "user", "content": filler(nbytes, seed)},
            "uuid": str(uuid.uuid4()), "timestamp": _now()}
    reply = {"parentUuid": user["uuid"], **common, "type": "assistant",
             "message": {"id": "msg_synthetic" + uuid.uuid4().hex[:12], "type": "message", "role": "assistant",
                         "model": "claude-sonnet-4-6", "content": [{"type": "text", "text": SYNTHETIC_REPLY}],
                         "stop_reason": "end_turn", "stop_sequence": None,
                         "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0,
                                   "cache_read_input_tokens": 0, "output_tokens": 2}},
             "requestId": "req_synthetic" + uuid.uuid4().hex[:12], "uuid": str(uuid.uuid4()), "timestamp": _now()}
    data = (json.dumps(user, ensure_ascii=False) + "\n" + json.dumps(reply, ensure_ascii=False) + "\n").encode()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)
    return len(data)


# -- the runner ------------------------------------------------------------------------------


def _check_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    sizes = tuple(int(s) for s in sizes)
    if not sizes or any(s < 0 or s > 60_000_000 for s in sizes):
        raise ConfigError("sizes", sizes, "one or more request sizes in bytes, 0..60 MB each")
    return sizes


def check_settings(sizes, turns, max_retries, think_time, runtime) -> tuple[tuple[int, ...], int]:
    """(sizes, turns) checked; ConfigError names the first bad one. Called before a world
    is built, so bad input creates nothing."""
    sizes = _check_sizes(sizes)
    turns = len(sizes) if turns is None else turns
    if not isinstance(turns, int) or turns < 1:
        raise ConfigError("turns", turns, "an integer >= 1")
    if not isinstance(max_retries, int) or not 0 <= max_retries <= 10:
        raise ConfigError("max_retries", max_retries, "an integer 0..10")
    if not isinstance(think_time, int | float) or not 0 <= think_time <= 86400:
        raise ConfigError("think_time", think_time, "field seconds in [0, 86400]")
    check_choice("runtime", runtime, claude_code.RUNTIMES)
    return sizes, turns


# Claude Code's terminal title: with each prompt it sends a small side request (a fast model,
# structured output, the prompt inside) beside the turn's main request, and the two race for
# the pool's connections -- which of them meets a stale pooled connection depends on whether
# the previous turn's two requests overlapped. Off, a turn is one request: the one that
# takes the pooled connection is the turn's own. Tests of pooled reuse use it; the field
# fit does not (the field's Claude Code had it on).
ONE_REQUEST_PER_TURN = {"CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1"}


def _turn_probe(rw, target: int, answer_s: float, seed: int, max_retries: int, runtime: str = "node",
                env: dict[str, str] | None = None):
    """The probe of a turn aiming at `target` request bytes: interactive, no prompt padding
    (the runner grows the context itself), no compaction, a deadline with upload time."""
    spec = ProbeSpec(size=target, duration=answer_s, client="claude-code", seed=seed)
    base = rw.client_probe(spec)
    probe = replace(base, size=0, max_retries=max_retries, mode="interactive", runtime=runtime,
                    env={**NO_COMPACT_ENV, **base.env, **(env or {})})
    return replace(probe, deadline=claude_code.default_deadline(probe)
                   + (max_retries + 2) * target / UPLOAD_BYTES_PER_S)


def _last_finished(res) -> float:
    """Unix time the turn's last request finished at the origin (else: when the turn was over)."""
    seen = [r.get("timings", {}).get("finished") for r in (res.origin_all.records if res.origin_all else [])]
    seen = [t for t in seen if t]
    return max(seen) if seen else time.time() - (time.monotonic() - res.ended)


def run_workload(rw, turns: int | None = None, sizes: tuple[int, ...] = DEFAULT_SIZES,
                 think_time: float = DEFAULT_THINK, max_retries: int = DEFAULT_RETRIES,
                 home: str | None = None, out: str | None = None, answer_s: float = DEFAULT_ANSWER,
                 seed: int = 0, persistent: bool = False, runtime: str = "node",
                 env: dict[str, str] | None = None) -> Workload:
    """Drive real Claude Code (interactive) through `turns` turns (default: one per size) in
    a running world `rw` (harness.lab.runtime.RunningWorld); turn i aims at a request of
    sizes[min(i, len(sizes) - 1)] bytes. `home`: a folder for the HOME and project (kept;
    default a temp folder, removed). `out`: where the session files and workload.json go
    (default a new temp folder: the caller removes Workload.out_dir). `persistent`: one
    Claude Code process for every turn (its connection pool carries over), the context
    pasted into the prompt; else a process per turn (--resume). `runtime`: "node" or "bun"
    (claude_code.RUNTIMES: what runs cli.js). `env`: more environment for Claude Code (e.g.
    ONE_REQUEST_PER_TURN). Module docstring."""
    sizes, turns = check_settings(sizes, turns, max_retries, think_time, runtime)
    world = rw.world
    lab = compile_world(world)
    out_dir = out or tempfile.mkdtemp(prefix="rl-workload-")
    os.makedirs(os.path.join(out_dir, "debug"), exist_ok=True)
    root = home or tempfile.mkdtemp(prefix="rl-cc-home-")
    wl = Workload(world=world.name, out_dir=out_dir, session_id="", session_file="",
                  max_retries=max_retries, sizes=sizes, persistent=bool(persistent),
                  think_time=think_time)
    targets = [sizes[min(i, len(sizes) - 1)] for i in range(turns)]
    tui = None
    t0 = time.monotonic()
    try:
        home_dir = project = session_path = ""
        context = claude_code.BASE_BODY  # what the next request would carry without padding
        last_end = None  # Unix time the previous turn's last request finished
        for i, target in enumerate(targets):
            probe = _turn_probe(rw, target, answer_s, seed + i, max_retries, runtime, env)
            if i == 0:  # the HOME approves the key the probe uses
                home_dir, project = claude_code.make_home(root, api_key(probe))
            pad = max(0, target - context - (PASTE_OVERHEAD if persistent else TURN_OVERHEAD))
            if persistent:
                if tui is None:  # its environment (API_TIMEOUT_MS) fits the largest turn
                    first = _turn_probe(rw, max(targets), answer_s, seed, max_retries, runtime, env)
                    tui = rw.topo["client"].call(claude_code.Tui, first, home_dir, project,
                                                 os.path.join(out_dir, "debug", "session.txt"))
                text = filler(pad, seed=seed * 1000 + i) + "\n\n" + PROMPT if pad else PROMPT
                submit_at = last_end + lab.seconds(think_time) if last_end is not None else None
                record, res = claude_code.turn_in(tui, probe, text, submit_at=submit_at)
                with open(os.path.join(out_dir, "debug", f"screen-{i + 1}.txt"), "w", encoding="utf-8") as f:
                    f.write(res.screen)
                if not tui.alive():
                    raise RuntimeError(f"claude-code exited during turn {i + 1}: {tui.screen()[-1500:]}")
            else:
                if i and think_time:
                    time.sleep(lab.seconds(think_time))
                if pad:
                    if not session_path:  # the first turn already needs context: start the session here
                        wl.session_id = str(uuid.uuid4())
                        session_path = os.path.join(project_dir(home_dir, project), wl.session_id + ".jsonl")
                    append_exchange(session_path, wl.session_id, project, pad, seed=seed * 1000 + i)
                args = ("--resume", wl.session_id) if session_path else ()
                debug_file = os.path.join(out_dir, "debug", f"turn-{i + 1}.txt")
                record, res = rw.topo["client"].call(claude_code.run_in_home, probe, home_dir, project,
                                                     debug_file, args)
            if not session_path:
                files = claude_code.session_files(home_dir)
                if len(files) != 1:
                    raise RuntimeError(f"claude-code: expected one session file after turn 1, found {len(files)}")
                session_path = files[0]
                wl.session_id = os.path.basename(session_path)[:-len(".jsonl")]
            elif claude_code.session_files(home_dir) != [session_path]:
                raise RuntimeError(f"claude-code did not continue the session file {wl.session_id}: "
                                   f"{claude_code.session_files(home_dir)}")
            requests = [r.get("body_bytes", 0) for r in (res.origin.records if res.origin else [])]
            seen = res.origin_all.records if res.origin_all else []
            probe_id = (seen[0].get("headers") or {}).get(PROBE_ID_HEADER, "") if seen else ""
            idle = round(res.submitted - last_end, 3) if last_end is not None else None
            last_end = _last_finished(res)
            if requests:
                context = max(requests)
            wl.turns.append(Turn(
                index=i + 1, target=target, padded=pad, request_bytes=record.request_bytes,
                requests=requests, probe_id=probe_id, outcome=record.label, kind=record.outcome, attempts=record.attempts,
                api_errors=len(res.api_errors), synthetic_error=bool(res.is_error),
                message=record.client_message, wall=round(res.wall, 3),
                session_bytes=os.path.getsize(session_path), idle=idle,
                retry_attempts=[e.get("retryAttempt") for e in res.api_errors],
                request_ids=[r.get("request_id", "") for r in (res.origin.records if res.origin else [])]))
    finally:
        if tui is not None:
            tui.close()
        wl.wall = round(time.monotonic() - t0, 3)
        _keep(root, out_dir, wl)
        if home is None:
            shutil.rmtree(root, ignore_errors=True)
    return wl


def _keep(root: str, out_dir: str, wl: Workload) -> None:
    """Copy the session files to out_dir/projects and write out_dir/workload.json."""
    src = os.path.join(root, "home", ".claude", "projects")
    dst = os.path.join(out_dir, "projects")
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
        if wl.session_id:
            for dirpath, _, files in os.walk(dst):
                if wl.session_id + ".jsonl" in files:
                    wl.session_file = os.path.join(dirpath, wl.session_id + ".jsonl")
    latest = os.path.join(out_dir, "debug", "latest")  # Claude Code's symlink to its last debug log
    if os.path.islink(latest):
        os.unlink(latest)
    with open(os.path.join(out_dir, "workload.json"), "w", encoding="utf-8") as f:
        json.dump(wl.to_dict(), f, indent=2)


# -- command line ----------------------------------------------------------------------------


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("workload", help="drive real Claude Code through a growing session in a world; "
                                        "print the field-log tables of its JSONL",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", required=True, metavar="NAME", help="a built-in world (control, h5, ...)")
    p.add_argument("--turns", type=int, default=None, metavar="N", help="turns (default: one per size)")
    p.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), metavar="B,B,...",
                   help="request size of each turn, bytes (the last repeats; default %(default)s)")
    add_session_args(p, max_retries=DEFAULT_RETRIES)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="keep the session files and workload.json here (default: a temp folder, removed)")
    p.add_argument("--json", action="store_true", help="print one JSON object: workload and fieldlog")
    p.set_defaults(func=run_cli)
    return p


def add_session_args(p: argparse.ArgumentParser, max_retries: int) -> None:
    """How each Claude Code session runs (shared with `lab-vs-field`): --max-retries,
    --think-time, --persistent, --runtime, --backend."""
    p.add_argument("--max-retries", type=int, default=max_retries, metavar="N",
                   help="CLAUDE_CODE_MAX_RETRIES (default %(default)s)")
    p.add_argument("--think-time", type=float, default=DEFAULT_THINK, metavar="S",
                   help="field seconds between turns, scaled by the world (default %(default)s)")
    p.add_argument("--persistent", action="store_true",
                   help="one Claude Code process for every turn (its HTTP connection pool carries over; "
                        "the context is pasted into the prompt) instead of a process per turn (--resume)")
    p.add_argument("--runtime", default="node", choices=claude_code.RUNTIMES,
                   help="what runs Claude Code's cli.js: node, or bun as in its native build, whose "
                        "api_error records keep cause.code (default %(default)s)")
    p.add_argument("--backend", default="auto", choices=("auto", "kernel", "userspace"))


def run_cli(args: argparse.Namespace) -> int:
    from harness.clients.common import NodeUnavailable
    from harness.fieldlog import analyze, render
    from harness.lab.runtime import RunningWorld
    from harness.worlds import by_name

    try:
        world = by_name(args.world)
        try:
            sizes = tuple(int(float(s)) for s in args.sizes.split(",") if s.strip())
        except (ValueError, OverflowError):
            raise ConfigError("--sizes", args.sizes, "request sizes in bytes, comma-separated numbers") from None
        check_settings(sizes, args.turns, args.max_retries, args.think_time, args.runtime)
    except ValueError as exc:
        print(f"resetlab workload: error: {exc}", file=sys.stderr)
        return 2
    out = args.out
    if out:
        os.makedirs(out, exist_ok=True)
    tmp = None if out else tempfile.mkdtemp(prefix="rl-workload-")
    try:
        with RunningWorld(world, backend=args.backend) as rw:
            wl = run_workload(rw, turns=args.turns, sizes=sizes, think_time=args.think_time,
                              max_retries=args.max_retries, out=out or tmp, persistent=args.persistent,
                              runtime=args.runtime)
        rep = analyze([wl.out_dir])
        if args.json:
            print(json.dumps({"workload": wl.to_dict(), "fieldlog": rep}))
        else:
            print(f"workload: world {wl.world}, {len(wl.turns)} turns"
                  f"{' in one process' if wl.persistent else ''}, max_retries {wl.max_retries}, "
                  f"{wl.wall:.1f} s" + (f"; logs in {out}" if out else ""))
            print(wl.table())
            print()
            sys.stdout.write(render.render(rep))
        return 0
    except (ConfigError, NodeUnavailable) as exc:
        print(f"resetlab workload: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
