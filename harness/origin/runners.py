"""Run an origin from synchronous code: in a background thread, or as a child process.

    with OriginThread(OriginConfig(stream={"deltas": 5})) as origin:
        print(origin.url)            # http://127.0.0.1:<port>

    with OriginProcess(["--tls", "--plan", plan_json]) as origin:
        print(origin.url, origin.ca_path)

The process form is what a world uses to run the origin inside a network namespace:
pass ``prefix=["ip", "netns", "exec", "ns-origin"]``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from functools import partial

import trio

from .config import OriginConfig, OriginInfo, parse_ready_line
from .server import serve_origin


class OriginThread:
    """An origin on its own trio loop in a daemon thread."""

    def __init__(self, config: OriginConfig | None = None, *, handler=None, **kwargs):
        self.config = config or OriginConfig(**kwargs)
        self.handler = handler  # None: the Messages API; the built-in edge passes its relay
        self.info: OriginInfo | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._token = None
        self._cancel: trio.CancelScope | None = None

    @property
    def url(self) -> str:
        assert self.info is not None, "not started"
        return self.info.url

    def start(self, timeout: float = 15.0) -> OriginInfo:
        ready = threading.Event()

        def main() -> None:
            try:
                trio.run(self._main, ready)
            except BaseException as exc:  # surface startup errors to start()
                self._error = exc
                ready.set()

        self._thread = threading.Thread(target=main, name="resetlab-origin", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("origin thread did not start")
        if self.info is None:
            raise RuntimeError("origin thread failed to start") from self._error
        return self.info

    async def _main(self, ready: threading.Event) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._cancel = nursery.cancel_scope
            self.info = await nursery.start(partial(serve_origin, handler=self.handler), self.config)
            ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        if self._cancel is not None and self._thread.is_alive():
            try:
                trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> OriginThread:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _package_root() -> str:
    import harness

    return os.path.dirname(os.path.dirname(os.path.abspath(harness.__file__)))


class OriginProcess:
    """``python -m harness origin ARGS`` as a child; parses its ready line."""

    def __init__(self, args: Sequence[str] = (), *, prefix: Sequence[str] = (),
                 python: str = sys.executable, env: dict[str, str] | None = None,
                 timeout: float = 20.0):
        self.cmd = [*prefix, python, "-m", "harness", "origin", *args]
        self.env = dict(os.environ, **(env or {}))
        root = _package_root()
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, self.env.get("PYTHONPATH")) if p)
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.ready: dict[str, str] = {}
        self._stderr = None

    @property
    def url(self) -> str:
        return self.ready["url"]

    @property
    def ca_path(self) -> str | None:
        return self.ready.get("ca")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def start(self) -> dict[str, str]:
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, env=self.env, text=True)
        deadline = time.monotonic() + self.timeout
        line = ""
        while not line:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise TimeoutError(f"origin did not become ready: {self.stderr_text()}")
            readable, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if readable:
                line = self.proc.stdout.readline()
                if not line:  # EOF: it exited
                    self.proc.wait(5)
                    raise RuntimeError(f"origin exited ({self.proc.returncode}): "
                                       f"{self.stderr_text().strip()}")
        self.ready = parse_ready_line(line)
        return self.ready

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> OriginProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
