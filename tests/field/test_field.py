"""The field matrix: every cell asserts the world's own prediction (harness/worlds/field.py)."""

import pytest

from harness.matrix import cells
from harness.matrix_run import run_cell
from harness.worlds import field

CELLS = [c for w in [field.world()] for c in cells(w)]

pytestmark = [pytest.mark.field, pytest.mark.matrix, pytest.mark.netns]


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_field(cell, world_runner):
    run_cell(cell, world_runner)
