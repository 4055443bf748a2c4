"""H1's size x duration law, as a property: any request under the worker's budget
(bytes x seconds) completes, whatever its size. Bounded examples; derandomized in CI."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.worlds import h1
from harness.worlds.model import ProbeSpec

pytestmark = [pytest.mark.h1, pytest.mark.netns, pytest.mark.slow]
WORLD = h1.world("size_duration")
BUDGET = h1.BUDGET

LAW = settings(max_examples=4, deadline=None, derandomize=bool(os.environ.get("CI")),
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@LAW
@given(size=st.integers(min_value=1_000, max_value=10_000_000), share=st.floats(min_value=0.05, max_value=0.6))
def test_requests_under_the_budget_complete(world_runner, size, share):
    # a duration that keeps size x duration at `share` of the budget (margin for the
    # lab's own upload and setup time, which count towards the worker's seconds)
    duration = max(1.0, min(300.0, share * BUDGET / size))
    rec = world_runner(WORLD).probe(ProbeSpec(size=size, duration=duration))
    assert rec.outcome == "completed", (size, duration, rec.label)
