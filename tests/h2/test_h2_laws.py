"""H2's law, as a property: any gap pattern whose longest silence stays below the NAT
timeout completes (and so does any size). Bounded examples; derandomized in CI."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.worlds import h2
from harness.worlds.model import ProbeSpec

pytestmark = [pytest.mark.h2, pytest.mark.netns, pytest.mark.slow]
WORLD = h2.world()
T = WORLD.nat_timeout

LAW = settings(max_examples=4, deadline=None, derandomize=bool(os.environ.get("CI")),
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@LAW
@given(gaps=st.lists(st.floats(min_value=0.0, max_value=0.6 * T), min_size=1, max_size=4),
       size=st.sampled_from([1_000, 100_000, 1_000_000]))
def test_silences_below_the_nat_timeout_complete(world_runner, gaps, size):
    rw = world_runner(WORLD)
    probe = rw.client_probe(ProbeSpec(size=size, duration=10))
    stream = dict(probe.lab_stream)
    # one silence after each of the first events, each below the timeout (field s, scaled)
    stream["idle"] = [{"after_event": 2 + i, "seconds": g * WORLD.time_scale} for i, g in enumerate(gaps)]
    from dataclasses import replace

    from harness.clients.registry import runner

    rec = rw.topo["client"].call(runner("raw"), replace(probe, lab_stream=stream))
    assert rec.outcome == "completed", (gaps, rec.label, rec.client_message)
