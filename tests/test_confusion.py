"""The built-in worlds' diagonal: on each the falsification table leaves that world's
hypothesis consistent and falsifies every other one. (Worlds drawn at random, a stronger
check, are harness/selfcheck's.)

The control world has no hypothesis of its own: there every hypothesis is falsified for the
ranges probed, except H3, which stays inconclusive with a bound (no outage seen in the run's
exposure). The field world is a mixture and is compared with the field report instead.
"""

import pytest

from harness.run import falsify_world
from harness.worlds import by_name

pytestmark = [pytest.mark.netns, pytest.mark.slow]

WORLDS = ["control", "h1-stream-limit", "h1-idle", "h1-size-duration", "h1-keepalive-idle", "h2", "h3", "h4",
          "h5"]


@pytest.mark.parametrize("name", WORLDS)
def test_world_confirms_its_own_hypothesis_and_falsifies_the_others(name):
    world = by_name(name)
    records, result = falsify_world(world)
    verdicts = {h: v.verdict for h, v in result.verdicts.items()}
    own = world.hypothesis
    if own != "control":
        assert verdicts[own] == "consistent", result.table()
    others = {h: v for h, v in verdicts.items() if h != own and not (own == "control" and h == "h3")}
    assert all(v == "falsified" for v in others.values()), result.table()
    if own == "control":
        assert verdicts["h3"] != "consistent" and "rarer than" in result.verdicts["h3"].evidence[0]
    for h, v in result.verdicts.items():
        assert v.evidence, h  # every verdict names its evidence
    if name == "h2":  # the NAT evicts the idle canary beside every failing probe, not beside passing ones
        assert any("canaries die with the failing probes as predicted" in e for e in result.verdicts["h2"].evidence)
    # verdicts come from the records alone: re-deciding from the dicts gives the same table
    from harness.engine import decide

    again = decide(result.target, records)
    assert {h: v.verdict for h, v in again.verdicts.items()} == verdicts
