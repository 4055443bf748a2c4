"""The observed mapping each cell is held to (tests/fidelity_expected.json), and the checks.

A cell's facts: the client's label, the wire's label, how many requests it made (the larger
of the origin's count and the tap's), whether it recovered, and how many api_error records
Claude Code wrote. The expectation file lists, per cell, every value seen in the runs it
was built from (a client that varies run to run, e.g. undici's RST-or-FIN, lists both), so
a client upgrade that changes a mapping fails its cell.

Two rules hold whatever the file says:
- the record (the wire-preferred label) never calls an RST a FIN or a FIN an RST against
  the wire;
- nor does the lab client's own label, except where the client library itself cannot tell
  (CANNOT_TELL: the reason is printed in the matrix).

    python -m harness.fidelity.expect RUN.json [RUN.json ...] > tests/fidelity_expected.json
"""

from __future__ import annotations

import json
import sys

FACTS = ("client_label", "wire_label", "requests", "recovered", "api_errors")
# (client, wire label, client label): why the client library cannot tell them apart
BUN = "Bun's fetch: any unexpected close, FIN as well as RST, is 'ECONNRESET: The socket connection was closed unexpectedly'"
CANNOT_TELL = {
    ("node-sdk", "reset_mid_stream", "fin_mid_stream"):
        "undici: an RST that lands while the paused body is not being read ends as 'other side closed'",
    ("claude-code", "reset_mid_stream", "fin_mid_stream"):
        "undici (Claude Code on Node): the same 'terminated <- other side closed'",
    ("claude-code-bun", "fin_before_headers", "reset_before_headers"): BUN,
    ("claude-code-bun", "fin_mid_stream", "reset_mid_stream"): BUN,
}


# Alternatives measured too rarely for a few runs to catch, added to every build (the
# client's label varies with timing, not with the client's version):
# undici reports ~10 % of mid-stream RSTs as ECONNRESET (harness/clients/README.md: Node SDK
# 3/40 and 4/40; Claude Code on Node's debug code 7/12).
KNOWN_VARIANTS = {
    "node-sdk/rst_mid_block": {"client_label": ["reset_mid_stream"]},
    "node-sdk/rst_after_block": {"client_label": ["reset_mid_stream"]},
    "claude-code/rst_after_block": {"client_label": ["reset_mid_stream"]},
}


def facts(cell: dict) -> dict:
    return {"client_label": cell["client_label"], "wire_label": cell["wire_label"],
            "requests": max(cell["attempts"], cell["wire_attempts"]), "recovered": cell["recovered"],
            "api_errors": len(cell["retry_attempts"])}


def key(cell: dict) -> str:
    return f"{cell['client']}/{cell['event']}"


def build(runs: list[dict]) -> dict:
    out: dict[str, dict[str, list]] = {}
    for run in runs:
        for cell in run["cells"]:
            if cell["skipped"] or cell["error"]:
                continue
            seen = out.setdefault(key(cell), {f: [] for f in FACTS})
            for f, v in facts(cell).items():
                if v not in seen[f]:
                    seen[f].append(v)
    for k, extra in KNOWN_VARIANTS.items():
        for f, values in extra.items():
            if k in out:
                out[k][f] += [v for v in values if v not in out[k][f]]
    return dict(sorted(out.items()))


def rule_problems(cell: dict) -> list[str]:
    """The two rules above."""
    out = []
    if cell["rst_fin_swapped"]:
        out.append(f"the record says {cell['label']} where the wire says {cell['wire_label']}")
    if cell["client_rst_fin_swapped"] and (cell["client"], cell["wire_label"], cell["client_label"]) not in CANNOT_TELL:
        out.append(f"the client says {cell['client_label']} where the wire says {cell['wire_label']}")
    return out


def problems(cell: dict, expected: dict) -> list[str]:
    """What differs from the expected mapping, plus the rules' complaints."""
    if cell["error"]:
        return [f"the cell did not run: {cell['error']}"]
    want = expected.get(key(cell))
    if want is None:
        return [f"no expectation for {key(cell)} (observed {facts(cell)})"]
    out = [f"{f}: observed {v!r}, expected one of {want[f]!r}" for f, v in facts(cell).items() if v not in want[f]]
    return out + rule_problems(cell)


def main(argv: list[str]) -> int:
    runs = []
    for path in argv:
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    json.dump(build(runs), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
