"""The h1 matrix: every cell asserts the world's own prediction (harness/worlds/h1.py)."""

import pytest

from harness.matrix import cells
from harness.matrix_run import run_cell
from harness.worlds import h1

CELLS = [c for w in [h1.world(v) for v in h1.VARIANTS] for c in cells(w)]

pytestmark = [pytest.mark.h1, pytest.mark.matrix, pytest.mark.netns]


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_h1(cell, world_runner):
    run_cell(cell, world_runner)
