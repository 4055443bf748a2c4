"""The quick matrix on the kernel backend: every built-in world's quick cells, each run on
`kernel` and on `userspace` in the same session.

On a real kernel (GitHub's runners) both backends must end as the world predicts, and where
it predicts one outcome (every probe completes, or every probe fails as the listed kinds)
with the same kinds; where it predicts a failure rate, each backend's records pass the
cell's own binomial check (two single draws of a random event may differ).

Under emulation (a TCG VM: Python ~10x slower, the userspace delay line's throughput 5-10x
below the kernel's there, README "The kernel backend, for real") the kernel backend must
still end as predicted -- which is what the userspace backend does natively: the quick
matrix asserts it on every run of the suite -- or, where emulation's timing makes it miss,
the userspace backend in the same VM must miss the same way (an artifact of the emulator,
not of the backend; the verdicts are printed). The userspace backend's own misses there are
printed, not failed: a 10 MB upload through emulated Python can take longer than a budget
that a native run meets. Every world also runs STRETCH times slower under emulation (its
time_scale times STRETCH; the compile step makes a world mean the same at any time scale),
so emulation's overhead is a smaller share of each limit: at its own 0.02,
h1-stream-limit's 30 s field stream (0.6 s real) once outlasted the 120 s budget (2.4 s
real) on the kernel backend and not on userspace, with the host loaded.
Kernel-only: skipped with the reason where this kernel has no sch_netem;
`python -m netem vm -- python -m pytest -m kernel_netem` runs it in a VM.
"""

import pytest

from conftest import under_emulation
from harness.matrix import cells, check
from harness.matrix_run import probe_cell
from harness.worlds import NAMES, by_name

STRETCH = 5.0 if under_emulation() else 1.0


def _world(name: str):
    w = by_name(name)
    return w if STRETCH == 1.0 else w.with_(time_scale=w.time_scale * STRETCH)


CELLS = [c for name in NAMES for c in cells(_world(name), "quick")]

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
    print(f"{cell.id} (time_scale {cell.world.time_scale:g}): {got} "
          f"{'as predicted' if problems == {'kernel': None, 'userspace': None} else problems}")
    same = sorted(set(got["kernel"])) == sorted(set(got["userspace"]))
    if under_emulation():
        assert problems["kernel"] is None or (cell.expect.rate is None and same), (problems, got)
        return
    if cell.expect.rate is None:
        assert same, got
    for backend, problem in problems.items():
        assert problem is None, f"{backend}: {problem}"
