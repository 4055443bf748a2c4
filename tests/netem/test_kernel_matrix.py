"""The quick matrix on the kernel backend: every built-in world's quick cells, each run on
`kernel` and on `userspace` in the same session, must end the same way.

Where the world predicts one outcome (every probe completes, or every probe fails as the
listed kinds), the two backends must show the same kinds, and on a real kernel the
predicted ones. Where it predicts a failure rate, each backend's records must pass the
cell's own binomial check (two single draws of a random event may differ). Under
emulation (a TCG VM) the prediction of a timing-bound cell can miss on both backends alike
(seen: h1-stream-limit's 30 s stream outlasting the worker budget once Python runs ~10x
slower): there the same-outcome check is the claim, and the verdict is printed.
Kernel-only: skipped with the reason where this kernel has no sch_netem;
`python -m netem vm -- python -m pytest -m kernel_netem` runs it in a VM.
"""

import pytest

from conftest import under_emulation
from harness.matrix import cells, check
from harness.matrix_run import probe_cell
from harness.worlds import NAMES, by_name

CELLS = [c for name in NAMES for c in cells(by_name(name), "quick")]

pytestmark = [pytest.mark.netns, pytest.mark.kernel_netem, pytest.mark.slow]


@pytest.fixture(scope="module")
def world_runner():
    """Like conftest's, but keeps only the current world up (on both backends): cells come
    world by world, and 10 worlds x 2 backends at once would crowd a VM's few GB."""
    from harness.lab.runtime import RunningWorld

    running: dict[tuple[str, str], RunningWorld] = {}

    def get(world, backend: str) -> RunningWorld:
        key = (world.to_json(), backend)
        for old in [k for k in running if k[0] != key[0]]:
            running.pop(old).__exit__(None, None, None)
        if key not in running:
            running[key] = RunningWorld(world, backend).__enter__()
        return running[key]

    yield get
    for rw in running.values():
        rw.__exit__(None, None, None)


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_kernel_cell_ends_like_userspace(cell, world_runner):
    kernel = probe_cell(cell, world_runner, "kernel")
    assert {r.backend for r in kernel} == {"kernel"}
    userspace = probe_cell(cell, world_runner, "userspace")
    got = {b: [r.outcome for r in recs] for b, recs in (("kernel", kernel), ("userspace", userspace))}
    problems = {b: check(cell, recs) for b, recs in (("kernel", kernel), ("userspace", userspace))}
    print(f"{cell.id}: {got} {'as predicted' if problems == {'kernel': None, 'userspace': None} else problems}")
    if cell.expect.rate is None:
        assert sorted(set(got["kernel"])) == sorted(set(got["userspace"])), got
        if under_emulation():
            return
    for backend, problem in problems.items():
        assert problem is None, f"{backend}: {problem}"
