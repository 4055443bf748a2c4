"""claude-code: one probe with the real Claude Code CLI (2.1.104, cli.js on Node), mapped to
the outcome taxonomy.

Claude Code is installed in the project-local npm folder clients/claude-code/ (exact pin +
committed lockfile; `npm ci --prefix clients/claude-code` on first use). It only ever talks
to probe.base_url (the mock): every run gets a throwaway HOME and project folder (removed
after) and a minimal environment, never the caller's:

    ANTHROPIC_BASE_URL=probe.base_url   ANTHROPIC_API_KEY=<lab key>
    CLAUDE_CODE_MAX_RETRIES=probe.max_retries   API_TIMEOUT_MS=probe.timeout*1000 (headers only)
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1
    DISABLE_ERROR_REPORTING=1 CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL=1
    ANTHROPIC_CUSTOM_HEADERS="x-resetlab-probe-id: ...\\nx-resetlab-plan: ...\\nx-resetlab-stream: ..."
    NODE_EXTRA_CA_CERTS=probe.ca_path (TLS)        + probe.env (e.g.
    CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1, CLAUDE_ENABLE_STREAM_WATCHDOG=1)
probe.wrap: a command prefix (e.g. ["strace", "-f", "-e", "trace=connect", "-o", F]).
probe.runtime: "node" (default) or "bun": cli.js on the Bun binary of the optional
npm package @oven/bun-linux-x64 (BUN), as in Claude Code's native build, whose api_error
records keep cause {"code": "ECONNRESET", "path": URL, "errno": 0} (Node's: cause {}).

$HOME/.claude.json is written first (WELCOME below): onboarding done, the project folder
trusted, the lab key approved (customApiKeyResponses: its last 20 characters) and the
official plugin marketplace marked as already attempted/policy-blocked. Without that last
part interactive mode runs `ssh -T git@github.com`, `git clone https://github.com/...` and
fetches downloads.claude.ai at start (seen with strace); with it, and the env var, the only
sockets Claude Code opens go to the mock (tests/test_client_real.py checks this with strace).

Modes (probe.mode):
    print (default)  `cli.js -p --output-format stream-json --verbose --include-partial-messages
                     --debug-file F`, the prompt on stdin. stdout has system/api_retry events
                     (attempt, retry_delay_ms, error_status, error), stream_event lines (the
                     client's own view of SSE events), the result line (is_error, result).
    interactive      the TUI on a pseudo-terminal (os.openpty): wait for the input box, type the
                     prompt, Enter; then read the session JSONL
                     ($HOME/.claude/projects/<project>/<session>.jsonl): system/api_error
                     records (retryAttempt, maxRetries, retryInMs, cause, error) and the final
                     assistant record (isApiErrorMessage + its text, or a normal answer).
                     `Tui` is that terminal as an object kept across turns (`turn_in`: one
                     more turn of the same process, e.g. the workload's persistent mode).
Both modes write the debug log (--debug-file), whose "Connection error details: code=X,
message=Y" and "Error streaming, falling back to non-streaming mode: M" lines are Claude
Code's own account of a connection failure.

What Claude Code printed -> Observation:
    an answer                                       complete, message_stop (status 200)
    "API Error: Unable to connect to API (CODE)"    before headers: ECONNRESET/EPIPE -> reset,
                                                    ECONNREFUSED/... -> connect_error(errno)
    "API Error: terminated"                         after headers (status 200): the debug
                                                    log's code=ECONNRESET -> reset, else eof
    "API Error: ECONNRESET: The socket connection was closed unexpectedly ..."
                                                    the same under Bun -> reset (status 200)
    any other error text ("Prompt is too long")     the debug log's last connection code:
                                                    ECONNRESET -> reset, else eof
    "API Error: NNN {json}"                         status NNN, error.type -> http_error
    "Request too large (max 20MB). ..."             its text for a 413 -> http_error(413, request_too_large)
    "API Error: {json error}"                       an `event: error`: sse_error(type)
    "Request timed out" / "API Error: Request timed out"    timeout(headers)
    nothing before the deadline (probe.deadline) -> we kill it: timeout(body) if a
                                                    stream had started, else timeout(headers)
The outcome is what happened to the probe as Claude Code experienced it: an early
mid-stream break it recovers from by its silent non-streaming fallback is `completed` with
attempts = 2 (the origin log shows the streamed request, then one without "stream").

`run_detailed(probe)` returns (ProbeRecord, ClaudeCodeRun) with everything parsed
(api_retry events, api_error records, debug lines, the origin's view); `run` the record.
"""

from __future__ import annotations

import errno as errno_mod
import glob
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from harness.outcome import Observation, ProbeRecord, classify
from netem.errors import ConfigError

from . import retries
from .common import (
    NodeUnavailable,
    api_key,
    ensure_npm,
    errno_of,
    lab_headers,
    make_record,
    node_binary,
    npm_folder,
)
from .probe import CC_MODES, CC_RUNTIMES, Probe

CLIENT = "claude-code"
FOLDER = npm_folder("claude-code")
PACKAGE = os.path.join(FOLDER, "node_modules", "@anthropic-ai", "claude-code")
CLI = os.path.join(PACKAGE, "cli.js")
MODES = CC_MODES
# probe.runtime: what runs cli.js. "bun" is the Bun binary of the optional npm
# package @oven/bun-linux-x64 (pinned in clients/claude-code/package.json), as in Claude
# Code's native build: its api_error records keep cause.code (Node writes cause: {}).
RUNTIMES = CC_RUNTIMES
BUN_PACKAGE = "@oven/bun-linux-x64"
BUN = os.path.join(FOLDER, "node_modules", *BUN_PACKAGE.split("/"), "bin", "bun")
# Claude Code's own request body (system prompt, tools and PROMPT) in print mode: measured
# 100244 bytes at the origin (2.1.104); a probe larger than that gets the difference as
# prompt text, so the origin receives probe.size bytes (within 1%: tests/test_client_real.py).
# A probe below it gets this much: the record's request_bytes says so beside probe.size.
BASE_BODY = 100_244
PROMPT = "Reply with one word."
MAIN_BETA = "claude-code-20250219"  # in the anthropic-beta of the conversation requests only
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
}
RESET_CODES = ("ECONNRESET", "EPIPE")
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-B]|\x1b[=>78]")


def welcome(project: str, key: str) -> dict[str, Any]:
    """$HOME/.claude.json for a fresh HOME: no onboarding, no trust or API-key prompt, no
    marketplace install (which would reach github.com and downloads.claude.ai)."""
    return {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": "2.1.104",
        "theme": "dark",
        "customApiKeyResponses": {"approved": [key[-20:]], "rejected": []},
        "officialMarketplaceAutoInstallAttempted": True,
        "officialMarketplaceAutoInstalled": False,
        "officialMarketplaceAutoInstallFailReason": "policy_blocked",
        "projects": {project: {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True,
                               "allowedTools": []}},
    }


def version() -> str | None:
    try:
        with open(os.path.join(PACKAGE, "package.json"), encoding="utf-8") as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def is_main(record: dict) -> bool:
    """A conversation request (not HEAD /, not a side request such as the title generator)."""
    beta = (record.get("headers") or {}).get("anthropic-beta", "")
    return record.get("method") == "POST" and "/v1/messages" in record.get("path", "") \
        and "count_tokens" not in record.get("path", "") and MAIN_BETA in beta


@dataclass
class ClaudeCodeRun:
    """Everything one run produced, parsed."""

    mode: str
    exit_code: int | None = None
    killed: bool = False  # we ended it at the deadline
    wall: float = 0.0
    text: str | None = None  # the result / API error text Claude Code printed
    is_error: bool = False
    stream_events: list[str] = field(default_factory=list)  # print mode: SSE event types seen
    api_retries: list[dict] = field(default_factory=list)  # print mode: system/api_retry
    api_errors: list[dict] = field(default_factory=list)  # session JSONL: system/api_error
    assistant: list[dict] = field(default_factory=list)  # session JSONL: assistant records
    debug_errors: list[str] = field(default_factory=list)  # [ERROR] lines of the debug log
    screen: str = ""  # interactive: the terminal text (ANSI stripped), tail
    message_stop: bool | None = None  # the answer was complete (None: not known yet)
    stdout_tail: str = ""
    stderr_tail: str = ""
    submitted: float = 0.0  # time.time() when Enter was pressed (interactive)
    ended: float = 0.0  # time.monotonic() when the turn was over
    origin: retries.OriginView | None = None  # conversation requests of this probe
    origin_all: retries.OriginView | None = None  # every request of this probe

    @property
    def connection_code(self) -> str | None:
        """code=X of the last "Connection error details" debug line."""
        for line in reversed(self.debug_errors):
            m = re.search(r"Connection error details: code=([A-Z_0-9]+)", line)
            if m:
                return m.group(1)
        return None

    @property
    def answer_complete(self) -> bool:
        """Did the answer Claude Code showed come from a complete message?"""
        if self.fell_back:
            return True  # a non-streaming answer: one whole JSON message
        if self.stream_events:  # print mode: its own SSE view
            return "message_stop" in self.stream_events
        return self.message_stop is not False  # interactive: the record's stop_reason

    @property
    def fell_back(self) -> bool:
        """Claude Code said it fell back to a non-streaming request."""
        return any("falling back to non-streaming" in line for line in self.debug_errors)


def _env(probe: Probe, home: str, probe_id: str, term: str) -> dict[str, str]:
    node_dir = os.path.dirname(node_binary() or "/usr/bin/node")
    headers = lab_headers(probe, probe_id)
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([node_dir, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": home, "TERM": term, "LANG": "C.UTF-8", "USER": "resetlab",
        "ANTHROPIC_BASE_URL": probe.base_url,
        "ANTHROPIC_API_KEY": api_key(probe),
        "CLAUDE_CODE_MAX_RETRIES": str(probe.max_retries),
        "API_TIMEOUT_MS": str(int(probe.timeout * 1000)),
        "ANTHROPIC_CUSTOM_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        **QUIET_ENV,
    }
    if probe.ca_path:
        env["NODE_EXTRA_CA_CERTS"] = probe.ca_path
    for k, v in probe.env.items():
        env[str(k)] = str(v)
    return env


def default_deadline(probe: Probe) -> float:
    """Long enough for every attempt to time out and every backoff (x1.25 jitter) to pass."""
    backoff = sum(min(0.5 * 2 ** (n - 1), 32.0) * 1.25 for n in range(1, probe.max_retries + 1))
    return 20.0 + backoff + (probe.max_retries + 2) * probe.timeout


def prompt_text(probe: Probe) -> str:
    pad = probe.size - BASE_BODY - 4  # "\n\n" is 4 bytes JSON-encoded
    if pad <= 0:
        return PROMPT
    from .context import filler

    return PROMPT + "\n\n" + filler(pad, seed=probe.seed)  # exactly pad bytes in the JSON body


def _stop(proc: subprocess.Popen) -> None:
    """End the process group we started (start_new_session), politely then firmly."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


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


def _winsize(fd: int, rows: int = 40, cols: int = 120) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def session_files(home: str) -> list[str]:
    """The session JSONL files under $HOME/.claude/projects (one folder per project)."""
    return sorted(glob.glob(os.path.join(home, ".claude", "projects", "*", "*.jsonl")))


def session_marks(home: str) -> dict[str, int]:
    """Where each session file ends now (bytes): records written later are past these marks."""
    return {path: os.path.getsize(path) for path in session_files(home)}


def _session_records(home: str, since: dict[str, int] | None = None) -> list[dict]:
    """Every session record, or only those written after `since` (session_marks())."""
    out = []
    for path in session_files(home):
        with open(path, "rb") as f:
            f.seek((since or {}).get(path, 0))
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def _turn_over(records: list[dict]) -> dict | None:
    """The record that ends the turn: an API error message, or an answer with a stop_reason.
    Other synthetic assistant records do not: resuming a session whose last turn died after
    an attachment record writes "No response requested." (model <synthetic>) at start-up."""
    for r in records:
        if r.get("type") != "assistant":
            continue
        msg = r.get("message") or {}
        if r.get("isApiErrorMessage"):
            return r
        if msg.get("stop_reason") and msg.get("model") != "<synthetic>":
            return r
    return None


def _idle_again(output: bytes) -> bool:
    """The TUI went busy ("esc to interrupt") and then back to its idle hint: the turn is
    over even if no record says so (e.g. a stream that ended without message_stop)."""
    text = re.sub(r"\s", "", ANSI.sub(b"", output).decode("utf-8", "replace"))
    busy = text.rfind("esctointerrupt")
    return busy >= 0 and text.rfind("forshortcuts") > busy


def _text_of(record: dict) -> str:
    content = (record.get("message") or {}).get("content") or []
    return "".join(c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text")


class Tui:
    """Interactive Claude Code on a pseudo-terminal (os.openpty, 120x40), kept across turns:
    `turn(text, deadline, res)` waits for the input box, puts `text` in it, presses Enter and
    waits for the turn to end, parsing the session records written meanwhile into `res`.
    Construct it in the network namespace the client must run in (the process stays
    there); `close()` ends it. One process keeps its HTTP connection pool between turns.

    Text is written as a bracketed paste (ESC[200~ ... ESC[201~) when it is long or has
    newlines - Claude Code shows "[Pasted text #N]" and sends the whole text on Enter - and
    typed otherwise; writes alternate with reading the screen so neither side blocks."""

    PASTE_OVER = 200  # characters

    def __init__(self, probe: Probe, home: str, project: str, debug_file: str,
                 args: tuple[str, ...] = ()):
        self.probe, self.home, self.debug_file = probe, home, debug_file
        self.probe_id = retries.new_probe_id()
        env = _env(probe, home, self.probe_id, "xterm-256color")
        self.master, slave = os.openpty()
        _winsize(slave)
        cmd = [*probe.wrap, runtime_binary(probe), CLI, "--debug-file", debug_file, *args]
        self.t0 = time.monotonic()
        try:
            self.proc = subprocess.Popen(cmd, cwd=project, env=env, stdin=slave, stdout=slave, stderr=slave,
                                         start_new_session=True, close_fds=True)
        except BaseException:
            os.close(self.master)
            raise
        finally:
            os.close(slave)
        self.buf = bytearray()
        self.turns = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], min(0.05, max(0.0, end - time.monotonic())))
            if r and not self._read():
                return

    def _read(self) -> bool:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        self.buf.extend(data)
        return bool(data)

    def screen(self, since: int = 0) -> str:
        return ANSI.sub(b"", bytes(self.buf[since:])).decode("utf-8", "replace")

    def wait_ready(self, timeout: float, since: int = 0) -> bool:
        """Until the input box's hint is drawn (after byte `since` of the output)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.alive():
            if "forshortcuts" in re.sub(r"\s", "", self.screen(since)):
                return True
            self.pump(0.1)
        return False

    def write(self, data: bytes, timeout: float, chunk: int = 65536) -> bool:
        """All of `data` to the terminal within `timeout` s, reading its output between
        writes (Node writes to a tty synchronously: an unread screen would block it)."""
        view = memoryview(data)
        end = time.monotonic() + timeout
        while view and self.alive() and time.monotonic() < end:
            r, w, _ = select.select([self.master], [self.master], [], 0.5)
            if r:
                self._read()
            if w:
                view = view[os.write(self.master, view[:chunk]):]
        return not view

    def put(self, text: str, timeout: float) -> bool:
        """Text into the input box within `timeout` s: typed when short and one line, else
        pasted - then only once Claude Code shows its "[Pasted text #N ...]" placeholder,
        for an Enter while it still says "Pasting text..." is lost (measured: a 2 MB paste
        never submitted when Enter followed it by 0.4 s)."""
        data = text.encode()
        if len(text) <= self.PASTE_OVER and "\n" not in text:
            return self.write(data, timeout)
        end = time.monotonic() + timeout
        mark = len(self.buf)
        if not self.write(b"\x1b[200~" + data + b"\x1b[201~", timeout):
            return False
        while time.monotonic() < end and self.alive():
            if "[Pastedtext#" in re.sub(r"\s", "", self.screen(mark)):
                return True
            self.pump(0.05)
        return False

    def turn(self, text: str, deadline: float, res: ClaudeCodeRun, submit_at: float | None = None) -> None:
        """One turn: wait for the input box, put `text` in it, press Enter (not before the
        Unix time `submit_at`, if given: the text is in the box meanwhile, as a user's
        would be) and wait for the turn to end. `deadline` and `res.wall` count from the
        process start on the first turn (start-up included), from Enter on later ones."""
        since = session_marks(self.home)
        first = self.turns == 0
        self.turns += 1
        begin = self.t0 if first else time.monotonic()
        self.wait_ready(min(deadline, 30.0) - (time.monotonic() - begin))
        self.pump(0.3)
        if not self.put(text, max(1.0, deadline - (time.monotonic() - begin))):
            raise RuntimeError(f"claude-code: could not put {len(text)} characters into the input box in time")
        self.pump(0.4)
        if submit_at is not None:
            self.pump(submit_at - time.time())
        start = begin if first else time.monotonic()
        mark = len(self.buf)
        res.submitted = time.time()
        os.write(self.master, b"\r")
        while time.monotonic() - start < deadline and self.alive():
            self.pump(0.1)
            if _turn_over(_session_records(self.home, since)) is not None or _idle_again(bytes(self.buf[mark:])):
                break
        else:
            res.killed = self.alive()
        grace = time.monotonic() + 2.0  # let the last records and screen updates land
        while not res.killed and time.monotonic() < grace and not (
                _turn_over(_session_records(self.home, since)) is not None and _idle_again(bytes(self.buf[mark:]))):
            self.pump(0.1)
        self.pump(0.3)
        res.ended = time.monotonic()
        res.wall = res.ended - start
        res.exit_code = self.proc.poll()
        res.screen = self.screen(mark)[-6000:]
        records = _session_records(self.home, since)
        res.api_errors = [r for r in records if r.get("type") == "system" and r.get("subtype") == "api_error"]
        res.assistant = [r for r in records if r.get("type") == "assistant"]
        end = _turn_over(records) or (res.assistant[-1] if res.assistant and not res.killed else None)
        if end is not None:
            res.text = _text_of(end)
            res.is_error = bool(end.get("isApiErrorMessage"))
            res.message_stop = bool((end.get("message") or {}).get("stop_reason"))

    def close(self) -> None:
        _stop(self.proc)
        try:
            os.close(self.master)
        except OSError:
            pass

    def __enter__(self) -> Tui:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_type_in(text: str) -> str | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        body = json.loads(text[start:])
    except ValueError:
        m = re.search(r'"type"\s*:\s*"error"\s*,\s*"error"\s*:\s*\{\s*"type"\s*:\s*"([^"]+)"', text)
        return m.group(1) if m else None
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("type") if isinstance(err, dict) else None


def observe(res: ClaudeCodeRun) -> Observation:
    """What Claude Code printed (and its debug log said) -> Observation (module docstring)."""
    text = (res.text or "").strip()
    last = res.origin.last if res.origin is not None else None
    if res.text is None and not res.killed:
        raise RuntimeError(f"claude-code ({res.mode}) ended without a result (exit {res.exit_code}): "
                           f"{(res.stderr_tail or res.stdout_tail or res.screen)[-1500:]}")
    if res.killed:
        streamed = bool(res.stream_events) or (last is not None and last.get("status") is not None)
        return Observation(end="timeout", status=200 if streamed else None,
                           timeout_phase="body" if streamed else "headers")
    if not res.is_error:
        # An answer. Complete unless Claude Code's own view says the stream it answered from
        # ended without message_stop (it then shows the partial text as a normal answer).
        return Observation(end="complete", status=200, message_stop=res.answer_complete)
    body = text[len("API Error:"):].strip() if text.startswith("API Error:") else text
    m = re.match(r"Unable to connect to API \(([A-Z_0-9]+)\)", body)
    if m:
        code = m.group(1)
        if code in RESET_CODES:
            return Observation(end="reset", errno=errno_mod.ECONNRESET)
        if code in ("ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT"):
            return Observation(end="timeout", timeout_phase="connect")
        if errno_of(code) is not None and code not in ("ECONNABORTED",):
            return Observation(end="connect_error", errno=errno_of(code))
        return Observation(end="eof")
    if body.startswith("Request timed out") or text.startswith("Request timed out"):
        return Observation(end="timeout", timeout_phase="headers")
    m = re.match(r"([A-Z][A-Z_0-9]+): The socket connection was closed unexpectedly", body)
    if m:  # Bun's fetch after the headers (Node's says "terminated"); before: "Unable to connect"
        if m.group(1) in RESET_CODES:
            return Observation(end="reset", status=200, errno=errno_mod.ECONNRESET)
        return Observation(end="eof", status=200)
    if body.startswith("terminated"):
        code = res.connection_code
        if code in RESET_CODES:
            return Observation(end="reset", status=200, errno=errno_mod.ECONNRESET)
        return Observation(end="eof", status=200)
    if body.startswith("Request too large"):  # its own text for a 413 ("... (max 20MB). Double press esc")
        return Observation(end="complete", status=413, error_type="request_too_large")
    m = re.match(r"(\d{3})\b\s*(.*)", body, re.S)
    if m and int(m.group(1)) >= 400:
        return Observation(end="complete", status=int(m.group(1)), error_type=_error_type_in(m.group(2)))
    etype = _error_type_in(body)
    if etype is not None:
        return Observation(end="complete", status=200, sse_error_type=etype)
    # Any other text (e.g. "Prompt is too long" after its retries failed and a compaction
    # was tried: an 8 MB prompt under Bun) says nothing of the connection; the debug log's
    # last connection error does, so an RST is not filed as a FIN
    headers = 200 if res.stream_events else None
    if res.connection_code in RESET_CODES:
        return Observation(end="reset", status=headers, errno=errno_mod.ECONNRESET)
    return Observation(end="eof", status=headers)


def make_home(root: str, key: str) -> tuple[str, str]:
    """A throwaway HOME and project folder under `root`, with WELCOME written: (home, project)."""
    home, project = os.path.join(root, "home"), os.path.join(root, "project")
    os.makedirs(os.path.join(home, ".claude"), exist_ok=True)
    os.makedirs(project, exist_ok=True)
    project = os.path.realpath(project)
    with open(os.path.join(home, ".claude.json"), "w", encoding="utf-8") as f:
        json.dump(welcome(project, key), f)
    return home, project


def runtime_binary(probe: Probe) -> str | None:
    """The program that runs cli.js for this probe (probe.runtime, default node)."""
    if probe.runtime == "bun":
        return BUN if os.access(BUN, os.X_OK) else None
    return node_binary()


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
