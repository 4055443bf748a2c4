"""The h4 matrix: every cell asserts the world's own prediction (harness/worlds/h4.py)."""

import pytest

from harness.matrix import cells
from harness.matrix_run import run_cell
from harness.worlds import h4

CELLS = [c for w in [h4.world()] for c in cells(w)]

pytestmark = [pytest.mark.h4, pytest.mark.matrix, pytest.mark.netns]


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_h4(cell, world_runner):
    run_cell(cell, world_runner)
