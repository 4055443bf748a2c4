"""Ctrl-C and SIGTERM for the long commands (run, mitigate, workload, lab-vs-field, probe).

The first SIGINT or SIGTERM raises KeyboardInterrupt in the main thread -- the one path
every command already unwinds through (worlds and topologies are context managers, thread
pools stop at their next slice) -- and remembers which signal it was, so the command exits
130 (SIGINT) or 143 (SIGTERM) and a script can tell an interrupted run from a finished one.
Every later signal only says that cleanup is under way: a second Ctrl-C landing in a
world's teardown would otherwise cut it short and leak its namespaces. (A SIGKILL is left
to the run's reaper, netem/reaper.py.)
"""

from __future__ import annotations

import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Signals:
    """Context manager installing the handler above; `signum` is the first signal seen."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.getsignal(s)
                signal.signal(s, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()

    def _on_signal(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
            raise KeyboardInterrupt(signal.Signals(signum).name)
        print(f"resetlab: {signal.Signals(signum).name} again: still releasing what the run holds, "
              "please wait", file=sys.stderr, flush=True)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    @property
    def exit_status(self) -> int:
        """130 for SIGINT, 143 for SIGTERM (the shell's 128 + signal number)."""
        return 128 + (self.signum or signal.SIGINT)

    def hold(self) -> None:
        """From now on every signal is only reported (called when an interrupt is being
        handled without one: e.g. a KeyboardInterrupt that did not come through us)."""
        if self.signum is None:
            self.signum = signal.SIGINT
