"""Claude Code interactive: the TUI on a pseudo-terminal, its session files, one turn."""

from __future__ import annotations

import glob
import json
import os
import re
import select
import signal
import struct
import subprocess
import time

from .. import retries
from ..probe import Probe
from .env import ANSI, CLI, _env, runtime_binary
from .observe import ClaudeCodeRun


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
