"""The client fidelity matrix, every cell a test of its observed mapping (`pytest -m fidelity`).

The whole matrix (6 clients x 28 wire events, 149 cells, ~6-7 min on 2 busy cores) runs once per session,
its lanes concurrent; each cell then checks what it observed against
tests/fidelity_expected.json (the client's label, the wire's, requests made, recovered,
Claude Code's api_error records) and the two rules of harness.fidelity.expect (no record,
and no lab client where its library can tell, calls an RST a FIN or a FIN an RST). A client
upgrade that changes a mapping fails its cell; regenerate the file from runs
(`python -m harness.fidelity.expect RUN.json ...`; RESETLAB_FIDELITY_OUT=DIR keeps this
run's fidelity.json) only after reading what changed. Claude Code's cells that hinge on
timing (its retry inside the deadline, a pooled connection's idle between turns) list each
value seen under load.
Outside `-m fidelity` these tests skip (the normal suite runs test_fidelity_quick.py).
"""

import json
import os

import pytest

from harness.clients import claude_code, node_sdk
from harness.fidelity.clients import CLIENTS
from harness.fidelity.events import EVENTS
from harness.fidelity.expect import problems
from tests.requires import installed

pytestmark = [pytest.mark.fidelity, pytest.mark.netns, pytest.mark.slow]
EXPECTED_PATH = os.path.join(os.path.dirname(__file__), "fidelity_expected.json")


@pytest.fixture(scope="session")
def matrix(request):
    if "fidelity" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the whole fidelity matrix (~6 min): pytest -m fidelity")
    installed(node_sdk.FOLDER)
    installed(claude_code.FOLDER)
    from harness.fidelity.matrix import run_matrix

    result = run_matrix(jobs=3)
    out = os.environ.get("RESETLAB_FIDELITY_OUT")  # keep the run (e.g. to rebuild the expectations)
    if out:
        from harness.fidelity.matrix import write

        write(result, out)
    return {(c["client"], c["event"]): c for c in result["cells"]}


@pytest.fixture(scope="session")
def expected():
    with open(EXPECTED_PATH, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("event", [e.name for e in EVENTS])
@pytest.mark.parametrize("client", [c.name for c in CLIENTS])
def test_cell(matrix, expected, client, event):
    cell = matrix[(client, event)]
    if cell["skipped"]:
        pytest.skip(cell["skipped"])
    print(json.dumps(cell, indent=1))  # shown when it fails
    assert problems(cell, expected) == []
