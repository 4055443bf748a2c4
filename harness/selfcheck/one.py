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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
