"""The soak (tests/soak.py) as a test: 100 short worlds under random SIGKILL, SIGINT, SIGTERM
and worker crashes leak nothing. Long (minutes): RESETLAB_SLOW=1 runs it."""

import os

import pytest

from tests.soak import soak

pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("RESETLAB_SLOW"),
                                 reason="100 worlds, several minutes: RESETLAB_SLOW=1 runs it")]


def test_soak_leaks_nothing():
    res = soak(int(os.environ.get("RESETLAB_SOAK_WORLDS", 100)), parallel=2, seed=0)
    print({k: v for k, v in res.items() if k != "rows"})
    assert res["clean"], res["leaks"]
    assert all(res["fates"].values())  # every fate was drawn
