"""One world of a self-check run, in its own process (runner.run_isolated starts it):
    python -m harness.selfcheck.one N SEED FAMILY EDGES INDEX BACKEND DIR
re-draws world INDEX of the seeded run, runs the engine on it, writes DIR/row.json and
DIR/records.json. SIGINT tears the world down (KeyboardInterrupt through RunningWorld)."""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    from .runner import run_one
    from .strategies import draws

    n, seed, family, edges, index, backend, out = argv
    d = draws(int(n), int(seed), family or None, tuple(e for e in edges.split(",") if e))[int(index)]
    row, records = run_one(d, int(index), backend, int(seed))
    with open(os.path.join(out, "records.json"), "w") as f:
        json.dump(records, f, default=str)
    with open(os.path.join(out, "row.json"), "w") as f:
        json.dump(row, f, default=str)
    return 0


def _main() -> int:
    """SIGINT or SIGTERM tear the world down and exit 130 / 143: a process started in the
    background inherits SIGINT ignored (the runner stops a world that hangs with SIGINT, and
    a `nohup ... &` self-check's worlds ran on through it)."""
    from harness.interrupts import Signals

    with Signals() as signals:
        try:
            return main(sys.argv[1:])
        except KeyboardInterrupt:
            signals.hold()
            return signals.exit_status


if __name__ == "__main__":
    sys.exit(_main())
