"""External targets: a world whose mechanism and limits are drawn at random (limits of 1-10
real seconds and 1-10 MB: time scale 1), probed the way a user probes an unknown endpoint --
`python -m harness probe --base-url <the edge's URL>` run from INSIDE the client namespace,
with a dummy key -- and the falsification.json it writes scored against the truth. The
engine is told nothing about the world: only the URL.

    python -m harness.selfcheck.external --targets 5 --seed 1 --out results/external

Families: those a client can reach by client-side factors alone (size, max_tokens ->
stream length, think time on a pooled connection, keepalive, protocol, read pace):
control, h1-stream, h1-bytetime, h1-keepalive, h2-nat, h4-stall, h5-prefill; and H3's
outages (periodic and Poisson, 4-40 s long, one every 20-150 s so that a probe run of a
few minutes meets several): what kills a stream there is the engine's own watchdog, so they
are scored on the verdicts alone (no boundary). Left out: h1-idle (a client cannot make the
origin fall silent).
The origin writes the whole max_tokens at a drawn 20-200 tokens/s (origin stream
`tokens_per_second`), so max_tokens sets the stream's length as it does with a real model.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import replace

from . import score
from .strategies import EDGES, Draw, RandomPicker, Ranges, draw_family, log_uniform

EXTERNAL = Ranges(seconds=(1, 10), reference_mb=(1, 10), watchdog=(1, 10), stall=(1, 10), limit_mb=(1, 10),
                  first_byte=(1, 10), fixed_scale=1.0)
FAMILIES = ("control", "h1-stream", "h1-bytetime", "h1-keepalive", "h2-nat", "h3-periodic", "h3-poisson", "h4-stall",
            "h5-prefill")
OUTAGE_S = (4.0, 40.0)  # an external H3 target's outage lengths (real s)
OUTAGE_EVERY_S = (20.0, 150.0)  # ... and the mean time between their starts
KEY_VAR = "RESETLAB_EXTERNAL_DUMMY_KEY"  # the probe reads its key from here: a dummy, never a real key
TOKENS_PER_SECOND = (20.0, 200.0)


def build(rng: random.Random, family: str | None = None, edges: tuple[str, ...] = ("builtin",)) -> Draw:
    """One external target: a family (uniform over FAMILIES unless given), its limits drawn
    in EXTERNAL, and an origin whose stream length follows max_tokens."""
    fam = family or rng.choice(FAMILIES)
    if fam not in FAMILIES:
        raise ValueError(f"external family: got {fam!r}; allowed one of {', '.join(FAMILIES)}")
    pick = RandomPicker(rng)
    # a real proxy answers a first-byte budget with 504 (harness/edge/observed.py): an HTTP
    # answer, which no hypothesis counts as a connection failure -- not an H5 target
    d = draw_family(pick, fam, ("builtin",) if fam == "h5-prefill" else edges, r=EXTERNAL)
    tps = pick.uniform(*TOKENS_PER_SECOND)
    stream = {**d.world.origin_stream, "tokens_per_second": tps, "tokens_per_delta": 4}
    w = d.world.with_(name=d.world.name.replace("rand-", "ext-"), origin_stream=stream)
    # a client cannot make the origin fall silent mid-stream: idle_gap is a lab-only factor
    reachable = tuple(b for b in d.boundaries if b.factor != "idle_gap")
    params = dict(d.params)
    if d.truth == "h3":
        # outages a few minutes' run meets several times; the watchdog that turns one into a
        # failure is the engine's (calibrated on the target), so no boundary is scored
        length = log_uniform(pick, *OUTAGE_S)
        every = log_uniform(pick, max(OUTAGE_EVERY_S[0], 2.5 * length), OUTAGE_EVERY_S[1])
        o = w.outages
        if o.period_s:
            o = replace(o, period_s=every, down_s=length)
            params.update(period_s=every, down_s=length)
        else:
            o = replace(o, poisson_rate_per_s=1 / every, poisson_mean_s=length)
            params.update(poisson_rate_per_s=1 / every, poisson_mean_s=length)
        w = w.with_(outages=o)
        reachable = ()
    return Draw(d.family, d.truth, w, reachable, {**params, "tokens_per_second": tps}, d.time_scale_drawn,
                d.time_scale_min, d.notes)


def probe_command(base_url: str, out: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "harness", "probe", "--base-url", base_url, "--api-key-env", KEY_VAR, "--yes",
            "--out", out, *extra]


def run_target(d: Draw, out: str, backend: str = "auto", timeout: float = 1800.0,
               extra: tuple[str, ...] = ()) -> dict:
    """Start the world, run `harness probe` from its client namespace, score falsification.json."""
    from harness.lab.runtime import RunningWorld

    os.makedirs(out, exist_ok=True)
    env = {**os.environ, KEY_VAR: "dummy-key-not-a-secret",
           "PYTHONPATH": os.pathsep.join(p for p in (_tree(), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("ANTHROPIC_API_KEY", None)  # a lab target never gets a real key
    t0 = time.monotonic()
    with RunningWorld(d.world, backend=backend) as rw:
        with open(os.path.join(out, "probe.stdout"), "w") as so, open(os.path.join(out, "probe.stderr"), "w") as se:
            proc = rw.topo["client"].popen(probe_command(rw.base_url, out, extra), env=env, stdout=so, stderr=se)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = None
    row = {"name": d.world.name, "truth": d.truth, "family": d.family, "draw": d.to_dict(),
           "true_boundaries": [b.to_dict() for b in d.boundaries], "exit_status": rc,
           "seconds": time.monotonic() - t0}
    path = os.path.join(out, "falsification.json")
    if rc != 0 or not os.path.isfile(path):
        with open(os.path.join(out, "probe.stderr")) as f:
            tail = f.read()[-600:]
        return {**row, "error": f"probe exited {rc}: {tail.strip()}", "verdicts": {}, "found_boundaries": []}
    with open(path) as f:
        doc = json.load(f)
    return {**row, **score_external(d, doc)}


def score_external(d: Draw, doc: dict) -> dict:
    """The verdicts and boundaries in a probe's falsification.json against the truth."""
    if "targets" in doc:  # one target per run here; take it
        doc = next(iter(doc["targets"].values()))
    verdicts = {h: v.get("verdict") for h, v in doc.get("hypotheses", {}).items()}
    found = doc.get("boundaries") if isinstance(doc.get("boundaries"), list) else []
    others = [h for h in score.HYPOTHESES if h != d.truth]
    if d.truth == "control":
        named = "consistent" not in verdicts.values()
    else:
        named = verdicts.get(d.truth) == "consistent" and all(verdicts.get(h) == "falsified" for h in others)
    errs = [score.boundary_error(b.to_dict(), found) for b in d.boundaries]
    return {"verdicts": verdicts, "found_boundaries": found, "boundary_errors": errs, "named": named,
            "boundary_ok": all(e["status"] in ("inside", "near") for e in errs)}


def _tree() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> int:
    import argparse

    from netem.errors import ConfigError

    ap = argparse.ArgumentParser(prog="python -m harness.selfcheck.external", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", default=None, help="one of " + ", ".join(FAMILIES))
    ap.add_argument("--out", default=None)
    ap.add_argument("--backend", default="auto", choices=("auto", "kernel", "userspace"))
    ap.add_argument("--edges", default="builtin",
                    help="comma-separated edges to draw from where the policy maps: builtin,nginx,haproxy")
    args = ap.parse_args(argv)
    edges = tuple(e.strip() for e in args.edges.split(",") if e.strip())
    if not edges or any(e not in EDGES for e in edges):
        print(f"resetlab: error: {ConfigError('--edges', args.edges, 'a comma-separated subset of ' + ','.join(EDGES))}",
              file=sys.stderr)
        return 2
    if not 1 <= args.targets <= 100:
        print(f"resetlab: error: {ConfigError('--targets', args.targets, 'an integer in [1, 100]')}", file=sys.stderr)
        return 2
    if args.family is not None and args.family not in FAMILIES:
        print(f"resetlab: error: {ConfigError('--family', args.family, 'one of ' + ', '.join(FAMILIES))}",
              file=sys.stderr)
        return 2
    out = args.out or os.path.join("results", time.strftime("external-%Y%m%d-%H%M%S"))
    rng = random.Random(args.seed)
    rows = []
    for i in range(args.targets):
        d = build(rng, args.family, edges)
        print(f"[{i + 1}/{args.targets}] {d.world.name} ({d.world.edge}) " + ", ".join(f"{b.factor} {b.value:.4g} {b.unit}"
                                                                      for b in d.boundaries), file=sys.stderr,
              flush=True)
        row = run_target(d, os.path.join(out, f"{i:02d}-{d.family}"), args.backend)
        rows.append(row)
        print(f"    {row['seconds']:.0f} s: " + (row.get("error") or f"named={row['named']} boundary_ok="
                                                  f"{row['boundary_ok']} {row['verdicts']}"), file=sys.stderr,
              flush=True)
    with open(os.path.join(out, "external.json"), "w") as f:
        json.dump({"seed": args.seed, "targets": rows}, f, indent=2, sort_keys=True, default=str)
    named = sum(bool(r.get("named")) for r in rows)
    print(f"external targets: {named}/{len(rows)} mechanisms named, "
          f"{sum(bool(r.get('boundary_ok')) for r in rows)}/{len(rows)} boundaries within their interval or near; "
          f"{out}/external.json")
    return 0 if named == len(rows) and all(r.get("boundary_ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
