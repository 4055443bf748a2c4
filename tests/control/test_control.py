"""The control matrix: every cell asserts the world's own prediction (harness/worlds/control.py)."""

import pytest

from harness.matrix import cells
from harness.matrix_run import run_cell
from harness.worlds import control

CELLS = [c for w in [control.world()] for c in cells(w)]

pytestmark = [pytest.mark.control, pytest.mark.matrix, pytest.mark.netns]


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_control(cell, world_runner):
    run_cell(cell, world_runner)
