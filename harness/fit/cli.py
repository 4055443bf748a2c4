"""python -m harness fit: search the world family for the field report's tables.

    python -m harness fit [--field data/field-report.json] [--budget-min 20] [--seed 0]
                          [--out DIR] [--confirm N] [--confirm-sessions K] [--confirm-min 20]
                          [--refit-min M] [--json]

Prints the budget and progress, the best worlds (re-scored on fresh seeds), their tables
beside the field's, the ablation (the best world without each mechanism), and writes to DIR
(default results/fit-<time>): fit-<k>.json (World files: `--world-file` loads them), fit.json
(everything, including what a World could not express), fit.md (this report), fit.png (the
fitted curves over the field's). `--confirm N` runs the N best worlds with real Claude Code on
Bun through lab-vs-field's own path (harness.labfield.run_world: persistent sessions of
growing context, then the field-log analyzer and compare.distance) and prints the real
signature distance beside the surrogate's; it needs root, network namespaces and the npm
folders, and is held to --confirm-min minutes (sessions are cut to fit).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from netem.errors import ConfigError, check_range

from . import ablation, assumptions, export, family, plot, score, search
from .score import COMPONENTS

SEARCH_SEEDS = 2  # simulation seeds per evaluation while searching (a world's draw varies: bad days)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fit", help="search a family of mixed worlds for the field report's tables",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--field", default=None, metavar="PATH", help="the field figures (default data/field-report.json)")
    p.add_argument("--budget-min", type=float, default=20.0, metavar="N", help="search time, minutes (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, metavar="DIR")
    p.add_argument("--seeds", type=int, default=5, metavar="N",
                   help="fresh simulation seeds the best candidates and the ablation are scored on (default 5)")
    p.add_argument("--keep", type=int, default=3, metavar="K", help="best worlds reported and written (default 3)")
    p.add_argument("--refit-min", type=float, default=0.0, metavar="M",
                   help="ablation: also re-fit without each mechanism, M minutes each (default 0: no refit)")
    p.add_argument("--confirm", type=int, default=0, metavar="N", help="run the N best with real Claude Code on Bun")
    p.add_argument("--confirm-sessions", type=int, default=3, metavar="K", help="Claude Code sessions per world")
    p.add_argument("--confirm-min", type=float, default=20.0, metavar="M", help="confirmation time budget, minutes")
    p.add_argument("--max-retries", type=int, default=3, help="CLAUDE_CODE_MAX_RETRIES in the confirmation")
    p.add_argument("--backend", default="auto", choices=("auto", "kernel", "userspace"))
    p.add_argument("--from", dest="from_dir", default=None, metavar="DIR",
                   help="no search: re-use the fit.json an earlier run wrote in DIR (e.g. to --confirm it)")
    p.add_argument("--json", action="store_true", help="print fit.json instead of the report")
    p.set_defaults(func=run_cli)
    return p


def _load_field(path: str | None) -> dict:
    try:
        ref = score.field_tables(path)
    except FileNotFoundError:
        raise ConfigError("--field", path, "an existing field-report JSON file") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError("--field", path, f"a field-report JSON with the figures retry_curve, size_buckets, "
                          f"by_code, gaps, bursts, by_hour_local, by_day_utc ({exc!r} missing or bad)") from None
    if not ref["retry_curve"] or not sum(ref["gaps"].values()) or not ref["api_errors"]:
        raise ConfigError("--field", path, "a field report with a non-empty retry curve and gap table")
    return ref


def side_by_side(ref: dict, fits: list[tuple[str, dict]]) -> str:
    from harness.fieldlog import compare

    def sig(t):
        return compare.signature(t)

    def f(v):
        return "-" if v is None else f"{v:.2f}"

    rows = [("api_errors (per field's sessions)", lambda t: f"{t['api_errors_per_field_sessions']:.0f}")]
    rows += [(c, lambda t, c=c: f(sig(t)[c])) for c in compare.COMPONENTS]
    total = lambda t: sum(t["gaps"].values()) or 1  # noqa: E731
    rows += [(f"gap {k}", lambda t, k=k: f"{t['gaps'].get(k, 0) / total(t):.2f}") for k in ref["gaps"]]
    rows += [("gap median s", lambda t: str(t["gap_stats"]["median_s"])),
             ("burst share (60 s)", lambda t: f"{t['bursts']['share']:.2f}"),
             ("top-3 UTC days share", lambda t: f"{score._top3(t['by_day_utc']):.2f}"),
             ("busiest local hour", lambda t: _top_hour(t)),
             ("synthetic turns per api_error", lambda t: f"{t['synthetic_turns'] / max(1, t['api_errors']):.2f}")]
    head = "| table | field report | " + " | ".join(n for n, _ in fits) + " |"
    lines = [head, "|" + "---|" * (len(fits) + 2)]
    for name, get in rows:
        lines.append(f"| {name} | {get(ref)} | " + " | ".join(get(t) for _, t in fits) + " |")
    return "\n".join(lines)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _top_hour(t: dict) -> str:
    counts = plot.hour_counts(t)
    if not counts:
        return "-"
    h, n = max(counts.items(), key=lambda kv: kv[1])
    return f"{h} ({n / sum(counts.values()):.2f})"


def run_cli(args: argparse.Namespace) -> int:
    try:
        check_range("--budget-min", args.budget_min, 0.02, 600, "minutes")
        check_range("--keep", args.keep, 1, 10, "worlds")
        check_range("--seeds", args.seeds, 1, 50, "seeds")
        check_range("--confirm", args.confirm, 0, 10, "worlds")
        check_range("--confirm-sessions", args.confirm_sessions, 1, 50, "sessions")
        check_range("--confirm-min", args.confirm_min, 1, 600, "minutes")
        check_range("--max-retries", args.max_retries, 0, 10, "retries")
        check_range("--refit-min", args.refit_min, 0, 120, "minutes")
        ref = _load_field(args.field)
    except ValueError as exc:
        print(f"resetlab fit: error: {exc}", file=sys.stderr)
        return 2
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    if args.from_dir:
        try:
            res, abl = _load_fit(args.from_dir)
        except ValueError as exc:
            print(f"resetlab fit: error: {exc}", file=sys.stderr)
            return 2
        out = args.out or args.from_dir
    else:
        out = args.out or os.path.join("results", time.strftime("fit-%Y%m%d-%H%M%S"))
        res, abl = _search(args, ref, log)
    os.makedirs(out, exist_ok=True)
    best = res.best
    worlds = []
    for k, e in enumerate(best, 1):
        w, lost = export.to_world(e.params, name=f"fit-{k}")
        path = os.path.join(out, f"fit-{k}.json")
        with open(path, "w") as f:
            f.write(w.to_json())
        worlds.append({"name": w.name, "file": path, "lost": lost, "world": w,
                       "workload": export.workload_args(e.params, w)})
    confirm = _confirm(args, best, worlds, log, out) if args.confirm else []
    if confirm:  # kept before anything else can fail
        with open(os.path.join(out, "confirm.json"), "w") as f:
            json.dump([{k: v for k, v in c.items() if k != "report"} for c in confirm], f, indent=1, default=str)
    fits = [(f"fit-{k}", e.tables) for k, e in enumerate(best, 1)]
    png = plot.figure(ref, fits + [(f"{c['world']} (real Claude Code)", c["report"]) for c in confirm
                                   if c.get("report")], os.path.join(out, "fit.png"))
    doc = {"field": args.field or "data/field-report.json", "seed": res.seed, "budget_s": res.budget_s,
           "evaluations": res.evaluations, "seconds": round(res.seconds, 1), "phases": res.phases,
           "mechanisms": list(res.mechanisms),
           "assumptions": assumptions.table(),
           "best": [{"name": f"fit-{k}", "score": round(e.score, 4), "sd": round(e.sd, 4),
                     "signature_distance": e.signature, "components": e.components, "params": e.params,
                     "seeds": list(e.seeds),
                     "tables": e.tables, "world_file": worlds[k - 1]["file"], "world_lost": worlds[k - 1]["lost"],
                     "workload": worlds[k - 1]["workload"]} for k, e in enumerate(best, 1)],
           "ablation": abl, "confirm": [{k: v for k, v in c.items() if k != "report"} for c in confirm],
           "figure": png}
    with open(os.path.join(out, "fit.json"), "w") as f:
        json.dump(doc, f, indent=1, default=str)
    text = report(ref, res, best, worlds, abl, confirm, out)
    with open(os.path.join(out, "fit.md"), "w") as f:
        f.write(text)
    if args.json:
        print(json.dumps(doc, default=str))
    else:
        print(text, end="")
    return 0


def _search(args, ref: dict, log) -> tuple[search.Result, list[dict]]:
    log(f"fit: {len(family.PARAMS)} parameters, mechanisms {', '.join(family.MECHANISMS)}; seed {args.seed}; "
        f"budget {args.budget_min:g} min (40 % Latin hypercube, 50 % compass search from the best 3, "
        f"10 % re-scoring on {args.seeds} fresh seeds; {SEARCH_SEEDS} seeds per search evaluation)")
    for line in assumptions.check_fidelity():
        log(f"fit: the fidelity matrix contradicts an assumption: {line}")
    res = search.search(ref, args.budget_min * 60, seed=args.seed, keep=args.keep, confirm_seeds=args.seeds,
                        search_seeds=SEARCH_SEEDS, log=log)
    log(f"fit: {res.evaluations} evaluations in {res.seconds:.0f} s ({res.phases})")
    abl = ablation.ablate(res.best[0].params, ref, seeds=res.best[0].seeds, refit_s=args.refit_min * 60,
                          seed=args.seed, log=log)
    return res, abl


def _load_fit(folder: str) -> tuple[search.Result, list[dict]]:
    path = os.path.join(folder, "fit.json")
    try:
        with open(path) as f:
            doc = json.load(f)
        best = [search.Eval(family.check(b["params"]), b["score"], b["components"], b["signature_distance"],
                            b["tables"], tuple(b["seeds"]), b["sd"]) for b in doc["best"]]
        res = search.Result(best, doc["evaluations"], doc["seconds"], doc["phases"], doc["budget_s"], doc["seed"],
                            tuple(doc["mechanisms"]))
        return res, doc["ablation"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("--from", folder, f"a folder with the fit.json of `python -m harness fit` ({exc!r})") \
            from None


def report(ref, res, best, worlds, abl, confirm, out) -> str:
    lines = [f"# fit: {res.evaluations} surrogate evaluations in {res.seconds:.0f} s (budget {res.budget_s:.0f} s, "
             f"seed {res.seed})", ""]
    for k, e in enumerate(best, 1):
        lines += [f"fit-{k}: score {e.score:.3f} +- {e.sd:.3f} over {len(e.seeds)} seeds; signature distance "
                  f"{e.signature:.3f}" if e.signature is not None else f"fit-{k}: score {e.score:.3f}",
                  "  components: " + ", ".join(f"{c} {e.components[c]:.2f}" for c in COMPONENTS),
                  family.describe(e.params, frozenset(res.mechanisms)), ""]
    lines += ["## tables beside the field's", "", side_by_side(ref, [(f"fit-{k}", e.tables)
                                                                      for k, e in enumerate(best, 1)]), ""]
    lines += ["## ablation (fit-1 without each mechanism, same seeds)", "", ablation.render(abl), ""]
    lines += ["## world files", ""]
    for w in worlds:
        lines.append(f"- {w['file']} (time_scale {w['world'].time_scale}); not expressible: " + "; ".join(w["lost"]))
    if confirm:
        lines += ["", "## real Claude Code on Bun (lab-vs-field's path)", ""]
        lines += ["| world | sessions | api_errors | real signature | real distance | surrogate distance | "
                  "real / surrogate without large_share |", "|---|---|---|---|---|---|---|"]
        for c in confirm:
            s = c.get("signature") or {}
            sig = ", ".join(f"{k} {v:.2f}" for k, v in s.items() if v is not None) or "-"
            real = "-" if c.get("distance") is None else f"{c['distance']:.3f} (on {', '.join(c['components'])})"
            lines.append(f"| {c['world']} | {c['sessions']} | {c.get('api_errors', '-')} | {sig} | {real} | "
                         f"{c['surrogate_distance']:.3f} | {_f(c.get('distance_without_size'))} / "
                         f"{_f(c.get('surrogate_without_size'))} |"
                         + (f" error: {c['error']}" if c.get("error") else ""))
    lines += ["", f"outputs: {out}/fit.json, fit.md, fit.png, fit-<k>.json", ""]
    return "\n".join(lines)


def _confirm(args, best, worlds, log, out_dir) -> list[dict]:
    """The N best through harness.labfield.run_world (real Claude Code on Bun), within budget."""
    from harness import labfield
    from harness.fieldlog import compare

    deadline = time.monotonic() + args.confirm_min * 60
    out = []
    for k in range(min(args.confirm, len(best))):
        e, w = best[k], worlds[k]
        left = deadline - time.monotonic()
        per = export.lab_seconds_per_session(e.params, w["world"], args.max_retries)
        n = max(0, min(args.confirm_sessions, int(left / (args.confirm - k) / per)))
        row = {"world": w["name"], "sessions": n, "surrogate_distance": e.signature, "workload": w["workload"]}
        if n == 0:
            row["error"] = f"no time left (a session takes up to ~{per:.0f} s)"
            out.append(row)
            continue
        log(f"confirm {w['name']}: {n} Claude Code session(s) on Bun, ~{per:.0f} s each at most")
        try:
            rep = labfield.run_world(w["world"], os.path.join(out_dir, "confirm", w["name"]), n,
                                     args.max_retries, args.backend, seed=args.seed, **w["workload"])
        except Exception as exc:  # a confirmation that cannot run is reported, the fit is kept
            row["error"] = f"{type(exc).__name__}: {exc}"
            out.append(row)
            continue
        sig = compare.signature(rep)
        d, used = compare.distance(sig, compare.field_signature(args.field))
        row |= {"api_errors": (rep.get("totals") or {}).get("api_errors"), "signature": sig, "distance": d,
                "components": used, "report": rep,
                # the lab's session file is as big as its requests (workload.py), unlike the fitted
                # user's: large_share is the lab's own, so the like-for-like number leaves it out
                "distance_without_size": _without_size(sig, args.field),
                "surrogate_without_size": _without_size(compare.signature(e.tables), args.field)}
        out.append(row)
    return out


def _without_size(sig: dict, field_path: str | None) -> float | None:
    from harness.fieldlog import compare

    ref = compare.field_signature(field_path)
    d, _ = compare.distance({k: v for k, v in sig.items() if k != "large_share"},
                            {k: v for k, v in ref.items() if k != "large_share"})
    return d
