"""Judge a finished self-check again from its recorded history, with this tree's judge and
boundary estimator: the probes are what they were (nothing is re-run), the verdicts and
boundaries are computed afresh from them.

    python -m harness.selfcheck.rejudge DIR [--out DIR2]

DIR is a self-check's results folder (its worlds/NNN/row.json + records.json). The report
(selfcheck.json + selfcheck.md, default DIR/rejudged-<commit>/) names both commits: the one
that probed and the one that judged. A world that did not run stays reported as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import runner


def rejudge_row(row: dict, records: list[dict]) -> dict:
    from harness import engine

    if row.get("error"):
        return row
    res = engine.decide(row["name"], records).to_dict()
    return {**row, "verdicts": {h: v["verdict"] for h, v in res["hypotheses"].items()},
            "evidence": {h: v.get("evidence", [])[:3] for h, v in res["hypotheses"].items()},
            "found_boundaries": runner.found_boundaries(res, records)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.selfcheck.rejudge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    worlds = os.path.join(args.dir, "worlds")
    try:
        with open(os.path.join(args.dir, "selfcheck.json")) as f:
            meta = {k: v for k, v in json.load(f).items() if k not in ("rows", "confusion", "criteria",
                                                                      "boundary_errors", "errors",
                                                                      "seconds_per_world")}
    except (OSError, ValueError):
        print(f"DIR: got {args.dir!r}; allowed a finished self-check's folder (selfcheck.json and worlds/)",
              file=sys.stderr)
        return 2
    rows = []
    for name in sorted(os.listdir(worlds)) if os.path.isdir(worlds) else []:
        try:
            with open(os.path.join(worlds, name, "row.json")) as f:
                row = json.load(f)
            with open(os.path.join(worlds, name, "records.json")) as f:
                records = json.load(f)
        except (OSError, ValueError):
            continue  # a world that did not finish: the original report lists it
        rows.append(rejudge_row(row, records))
    judged = runner.engine_commit()
    out = args.out or os.path.join(args.dir, f"rejudged-{judged}")
    os.makedirs(out, exist_ok=True)
    rows.sort(key=lambda r: r["index"])
    report = runner.summarize(rows, {**meta, "probed_by": meta.get("engine_commit"), "engine_commit":
                                     f"{judged} (judging the probes of {meta.get('engine_commit')})"})
    runner.write(report, out)
    print(runner.markdown(report).split("## Worlds\n")[0].rstrip())
    print(f"-> {out}")
    return 0 if runner.passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())
