"""A run's reaper: removes the run's namespaces and processes as soon as its owner dies,
however it dies (SIGKILL included), without waiting for `python -m netem cleanup`.

One small process per Topology, started right after the registry record is written: its
stdin is a pipe whose only write end the owner holds. A normal close writes "done" and the
reaper exits; if the pipe reaches EOF without it -- the owner is gone, and the kernel closed
its end -- the reaper sweeps the run named in the registry (the same sweep cleanup does:
processes inside the run's namespaces by pid, then the namespaces, then the record).

It runs in its own session (a Ctrl-C to the owner's process group does not reach it) and is
not a child that dies with its parent (no PDEATHSIG): outliving the owner is its purpose.
`python -S`: only the stdlib and this package, so it starts in tens of milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import sys

DONE = b"done\n"


def start(run_id: str) -> subprocess.Popen:
    """The reaper of run `run_id` (the caller keeps .stdin open for as long as the run lives)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from .nsexec import scrubbed_environ

    return subprocess.Popen([sys.executable, "-S", "-m", "netem.reaper", run_id], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root,
                            start_new_session=True, close_fds=True, env=scrubbed_environ())


def release(proc: subprocess.Popen) -> None:
    """The run closed normally: tell its reaper so, and let it go. Not waited for (its own
    start-up would add tens of ms to every teardown): it exits on reading "done", and
    subprocess reaps it (a Popen dropped while running is collected by the next one)."""
    try:
        proc.stdin.write(DONE)
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass
    proc.poll()


def reap(run_id: str) -> None:
    from . import names, nsexec
    from .registry import Leftovers, load_records, sweep

    rec = load_records().get(run_id)
    left = Leftovers(netns=[n for n in nsexec.list_netns() if names.run_of_netns(n) == run_id])
    if rec is not None:
        left.netns = sorted(set(left.netns) | {n for n in rec.netns if os.path.exists(nsexec.netns_path(n))})
        left.records = [run_id]
    # only processes inside the run's namespaces: ours by construction (a recorded pid may
    # have been reused since the owner died)
    left.pids = sorted({p for ns in left.netns for p in nsexec.pids_in_netns(ns)})
    sweep(left)


def main(argv: list[str]) -> int:
    from .names import check_run_id

    run_id = check_run_id(argv[0])
    data = b""
    while True:
        try:
            chunk = os.read(0, 64)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    if data.startswith(DONE):
        return 0
    reap(run_id)  # EOF without "done": the owner died
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
