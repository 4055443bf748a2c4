"""The fidelity matrix's quick subset in the normal suite: the HTTP clients (raw, Python SDK, curl,
Node SDK) x one wire event of each family (harness.fidelity.events.QUICK), ~15 s. Same checks
as `pytest -m fidelity` (tests/test_fidelity.py): the observed mapping and the RST/FIN rules."""

import json

import pytest

from harness.clients import node_sdk
from harness.fidelity.clients import BY_NAME as CLIENTS
from harness.fidelity.clients import QUICK as QUICK_CLIENTS
from harness.fidelity.events import BY_NAME as EVENTS
from harness.fidelity.events import QUICK as QUICK_EVENTS
from harness.fidelity.expect import problems
from tests.requires import installed
from tests.test_fidelity import EXPECTED_PATH

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def test_quick_subset_keeps_its_mapping_and_never_swaps_rst_and_fin():
    installed(node_sdk.FOLDER)
    from harness.fidelity.matrix import run_matrix

    with open(EXPECTED_PATH, encoding="utf-8") as f:
        expected = json.load(f)
    result = run_matrix([CLIENTS[c] for c in QUICK_CLIENTS], [EVENTS[e] for e in QUICK_EVENTS], jobs=2)
    ran = [c for c in result["cells"] if not c["skipped"]]
    assert len(ran) == len(QUICK_CLIENTS) * len(QUICK_EVENTS) - 1  # node-sdk has no h2c
    found = {f"{c['client']}/{c['event']}": problems(c, expected) for c in ran}
    print(json.dumps(result["cells"], indent=1))
    assert {k: v for k, v in found.items() if v} == {}
    # the wire decided every one of these cells (none ends in a client's own timer)
    assert all(c["wire_label"] is not None for c in ran)
