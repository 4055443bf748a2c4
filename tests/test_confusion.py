"""The instrument's self-check: on each built-in world the falsification table leaves that
world's hypothesis consistent and falsifies every other one.

(The control world has no hypothesis of its own: there every hypothesis is falsified. The
field world is a mixture and is compared with the field report instead, not here.)
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
    others = {h: v for h, v in verdicts.items() if h != own}
    assert all(v == "falsified" for v in others.values()), result.table()
    for h, v in result.verdicts.items():
        assert v.evidence, h  # every verdict names its evidence
    if name == "h2":  # the NAT evicts the idle canary beside every failing probe, not beside base
        assert any("canaries die with the failing probes as predicted" in e for e in result.verdicts["h2"].evidence)
    # verdicts come from the records alone: re-deciding from the dicts gives the same table
    from harness.engine import decide

    again = decide(result.target, [r.to_dict() for r in records])
    assert {h: v.verdict for h, v in again.verdicts.items()} == verdicts
