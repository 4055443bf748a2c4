"""Results folders: results/<run-id>/{probes.jsonl, falsification.json, falsification.md,
report.html, mitigations.jsonl}. Everything is rendered from the files, so `python -m harness report DIR`
re-renders a folder and gets the same report.

One target (a world or an external URL) per subfolder when a run has several; the
top-level falsification.json then holds them under `targets`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os

from harness import engine, jsonl, mitigations
from harness.worlds import HYPOTHESES

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema",
                      "falsification.schema.json")


def validate(doc: dict) -> None:
    import jsonschema

    with open(SCHEMA) as f:
        jsonschema.validate(doc, json.load(f))


def targets_of(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        if r.get("probe", {}).get("arm"):
            out.setdefault(r.get("probe", {}).get("target") or r.get("world") or "target", []).append(r)
    return out


def render(folder: str) -> dict:
    """(Re)compute verdicts from probes.jsonl and write falsification.json/.md and report.html."""
    records = jsonl.read(os.path.join(folder, "probes.jsonl"))
    partial = _partial(folder)  # an interrupted run (harness/cli_run.py marks its folder)
    results = {name: engine.decide(name, recs, partial=bool(partial)) for name, recs in targets_of(records).items()}
    if len(results) == 1:
        doc = next(iter(results.values())).to_dict()
    else:
        doc = {"schema_version": engine.SCHEMA_VERSION, "targets": {k: v.to_dict() for k, v in results.items()}}
    if partial:
        doc.update(partial=True, partial_reason=partial)
    if results:
        validate(doc)
    with open(os.path.join(folder, "falsification.json"), "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    mitigation_rows = jsonl.read(os.path.join(folder, "mitigations.jsonl"))
    md = markdown(results, records, mitigation_rows)
    page = report_html(results, records, load_outages(folder), mitigation_rows)
    if partial:
        md = md.replace("\n", f"\n\n**Partial results: {partial}.**\n", 1)
        page = page.replace("</h1>", f"</h1><p><b>Partial results: {html.escape(partial)}.</b></p>", 1)
    with open(os.path.join(folder, "falsification.md"), "w") as f:
        f.write(md)
    with open(os.path.join(folder, "report.html"), "w") as f:
        f.write(page)
    return doc


def _partial(folder: str) -> str | None:
    try:
        with open(os.path.join(folder, "partial.json")) as f:
            return str(json.load(f).get("reason") or "interrupted")
    except (OSError, ValueError, AttributeError):
        return None


def markdown(results: dict[str, engine.Falsification], records: list[dict],
             mitigation_rows: list[dict] | None = None) -> str:
    parts = ["# resetlab falsification report", ""]
    if results:
        hyps = engine.HYPOTHESES
        parts += ["| target | " + " | ".join(hyps) + " |", "|---|" + "---|" * len(hyps)]
        for name, res in results.items():
            parts.append(f"| {name} | " + " | ".join(res.verdicts[h].verdict for h in hyps) + " |")
        parts.append("")
    if mitigation_rows:
        parts += ["## Mitigations", "", mitigations.markdown(mitigation_rows), ""]
    for name, res in results.items():
        parts += [f"## {name}", "", res.table(), "", "### Evidence", ""]
        for h, v in res.verdicts.items():
            parts.append(f"<details><summary><b>{h}: {v.verdict}</b> -- {v.evidence[0] if v.evidence else ''}"
                         "</summary>\n")
            parts += [f"- {e}" for e in v.evidence[1:]]
            parts += [f"- not tested: {u}" for u in v.untested if u not in v.evidence]
            parts.append("\n</details>")
        parts.append("")
    parts += ["## What each hypothesis predicts", "",
              "| factor | " + " | ".join(engine.HYPOTHESES) + " |", "|---|" + "---|" * len(engine.HYPOTHESES)]
    factors = list(HYPOTHESES["h1"].predictions)
    for f in factors:
        cells = [HYPOTHESES[h].predictions[f].effect if f in HYPOTHESES[h].predictions else ""
                 for h in engine.HYPOTHESES]
        parts.append(f"| {f} | " + " | ".join(cells) + " |")
    parts += ["", f"{len(records)} probes; alpha {engine.ALPHA} with Holm's step-down within each hypothesis; "
              "boundaries from geometric ladders and bisection (harness/experiment/).", ""]
    return "\n".join(parts)


def load_outages(folder: str) -> dict[str, list[dict]]:
    try:
        with open(os.path.join(folder, "outages.json")) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def heatmaps(records: list[dict]) -> list[tuple[str, str]]:
    """Failure rate over request size x stream duration, per world (or target) and protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str], dict[tuple[int, float], list[int]]] = {}
    for r in records:
        p = r.get("probe", {})
        if "size" not in p or "duration" not in p or (p.get("role") and (
                p.get("factor") not in ("size", "duration", "size_x_duration") or p.get("treatment"))):
            continue  # the search's size x duration points only (ladders and bisection)
        key = (r.get("world") or p.get("target") or "target", p.get("protocol", "http1"))
        cell = groups.setdefault(key, {}).setdefault((p["size"], p["duration"]), [0, 0])
        cell[0] += r["outcome"] != "completed"
        cell[1] += 1
    out = []
    for (world, proto), cells in sorted(groups.items()):
        sizes = sorted({s for s, _ in cells})
        durs = sorted({d for _, d in cells})
        grid = [[(cells[(s, d)][0] / cells[(s, d)][1]) if (s, d) in cells else float("nan") for s in sizes]
                for d in durs]
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(sizes), 1.0 + 0.5 * len(durs)))
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="Reds", aspect="auto", origin="lower")
        ax.set_xticks(range(len(sizes)), [_size(s) for s in sizes], rotation=45)
        ax.set_yticks(range(len(durs)), [f"{d:g}s" for d in durs])
        for i, d in enumerate(durs):
            for j, s in enumerate(sizes):
                if (s, d) in cells:
                    k, n = cells[(s, d)]
                    ax.text(j, i, f"{k}/{n}", ha="center", va="center", fontsize=8)
        ax.set_xlabel("request size")
        ax.set_ylabel("stream duration (field s)")
        ax.set_title(f"{world} ({proto}): failure rate", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.05)
        out.append((f"{world} {proto}", _png(fig)))
    return out


def timeline(records: list[dict], outages: dict[str, list[dict]], world: str) -> str | None:
    """Per-probe bars (start -> end, coloured by outcome) with outage windows shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = sorted((r for r in records if (r.get("world") or "") == world), key=lambda r: r["ts"])
    if not recs:
        return None
    t0 = min(r["ts"] - r.get("t_total", 0) for r in recs)
    fig, ax = plt.subplots(figsize=(8, 0.4 + 0.12 * len(recs)))
    for w in outages.get(world, []):
        ax.axvspan(w["began_wall"] - t0, (w.get("ended_wall") or w["began_wall"]) - t0, color="0.85")
    for i, r in enumerate(recs):
        start = r["ts"] - r.get("t_total", 0) - t0
        ax.barh(i, r.get("t_total", 0), left=start, height=0.8,
                color="tab:green" if r["outcome"] == "completed" else "tab:red")
    ax.set_yticks([])
    ax.set_xlabel("seconds (real) since the first probe; grey: outages")
    ax.set_title(f"{world}: probes (green completed, red failed)", fontsize=9)
    return _png(fig)


def _size(n: int) -> str:
    from harness.matrix import human_size

    return human_size(n)


def report_html(results: dict[str, engine.Falsification], records: list[dict],
                outages: dict[str, list[dict]], mitigation_rows: list[dict] | None = None) -> str:
    e = html.escape
    body = ["<h1>resetlab falsification report</h1>"]
    if results:
        hyps = engine.HYPOTHESES
        body.append("<table border=1 cellpadding=4><tr><th>target</th>" + "".join(f"<th>{h}</th>" for h in hyps)
                    + "</tr>")
        for name, res in results.items():
            body.append(f"<tr><td>{e(name)}</td>" + "".join(
                f"<td class={res.verdicts[h].verdict}>{res.verdicts[h].verdict}</td>" for h in hyps) + "</tr>")
        body.append("</table>")
    if mitigation_rows:
        worlds, names, at = mitigations.pivot(mitigation_rows)
        body.append("<h2>Mitigations</h2><table border=1 cellpadding=4><tr><th>world</th>"
                    + "".join(f"<th>{e(m)}</th>" for m in names) + "</tr>")
        for w in worlds:
            cells = []
            for m in names:
                r = at.get((w, m))
                css = "" if r is None else " class=" + ("consistent" if not r["turns_lost"] else "falsified")
                cells.append(f"<td{css}>{e(mitigations.cell(r)) if r else ''}</td>")
            body.append(f"<tr><td>{e(w)}</td>" + "".join(cells) + "</tr>")
        body.append(f"</table><p>{e(mitigations.LEGEND)}</p>")
    for name, res in results.items():
        body.append(f"<h2>{e(name)}</h2><ul>")
        for h, v in res.verdicts.items():
            first = v.evidence[0] if v.evidence else ""
            body.append(f"<li><details><summary><b>{h}: {v.verdict}</b> {e(first)}</summary><ul>"
                        + "".join(f"<li>{e(x)}</li>" for x in v.evidence[1:]) + "</ul></details></li>")
        body.append("</ul><table border=1 cellpadding=3><tr><th>arm</th><th>failed</th><th>kinds</th></tr>")
        for a in res.arms.values():
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(a["kinds"].items()))
            body.append(f"<tr><td>{e(a['name'])}</td><td>{a['failures']}/{a['n']}</td><td>{e(kinds)}</td></tr>")
        body.append("</table><h3>Boundaries</h3><pre>" + e("\n".join(res.boundary_lines())) + "</pre>")
    maps = heatmaps(records)
    if maps:
        body.append("<h2>Failure rate over request size x stream duration</h2>")
        body += [f'<figure><img alt="{e(t)}" src="data:image/png;base64,{png}"></figure>' for t, png in maps]
    worlds = sorted({r.get("world") for r in records if r.get("world")})
    shown = [(w, timeline(records, outages, w)) for w in worlds]
    if any(png for _, png in shown):
        body.append("<h2>Probe timelines</h2>")
        body += [f'<figure><img alt="{e(w)} timeline" src="data:image/png;base64,{png}"></figure>'
                 for w, png in shown if png]
    style = ("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             ".falsified{background:#f4cccc}.consistent{background:#d9ead3}.inconclusive{background:#fff2cc}</style>")
    return f"<!doctype html><html><head><meta charset=utf-8><title>resetlab report</title>{style}</head><body>" \
           + "\n".join(body) + "</body></html>\n"
