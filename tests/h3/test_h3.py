"""The h3 matrix: every cell asserts the world's own prediction (harness/worlds/h3.py)."""

import pytest

from harness.matrix import cells
from harness.matrix_run import run_cell
from harness.worlds import h3

CELLS = [c for w in [h3.world()] for c in cells(w)]

pytestmark = [pytest.mark.h3, pytest.mark.matrix, pytest.mark.netns]


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_h3(cell, world_runner):
    run_cell(cell, world_runner)
