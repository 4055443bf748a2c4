"""The quick matrix on the kernel backend: every built-in world's quick cells, each run on
`kernel` and on `userspace` in the same session, must end the same way.

Where the world predicts one outcome (every probe completes, or every probe fails as the
listed kinds), the two backends must show the same kinds; where it predicts a failure
rate, each backend's records must pass the cell's own binomial check (two single draws of
a random event may differ). Kernel-only: skipped with the reason where this kernel has no
sch_netem; `python -m netem vm -- python -m pytest -m kernel_netem` runs it in a VM.
"""

import pytest

from harness.matrix import cells, check
from harness.matrix_run import probe_cell
from harness.worlds import NAMES, by_name

CELLS = [c for name in NAMES for c in cells(by_name(name), "quick")]

pytestmark = [pytest.mark.netns, pytest.mark.kernel_netem, pytest.mark.slow]


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_kernel_cell_ends_like_userspace(cell, world_runner):
    kernel = probe_cell(cell, world_runner, "kernel")
    assert {r.backend for r in kernel} == {"kernel"}
    userspace = probe_cell(cell, world_runner, "userspace")
    got = {b: [r.outcome for r in recs] for b, recs in (("kernel", kernel), ("userspace", userspace))}
    print(f"{cell.id}: {got}")
    if cell.expect.rate is None:
        assert sorted(set(got["kernel"])) == sorted(set(got["userspace"])), got
    for backend, recs in (("kernel", kernel), ("userspace", userspace)):
        problem = check(cell, recs)
        assert problem is None, f"{backend}: {problem}"
