"""What the userspace backend plans for a link, before anything runs (no root needed)."""

import pytest

from netem import GilbertElliott, LinkProfile, LinkShape, chain
from netem.shaping import USERSPACE_RESOLUTION_MS, userspace_plan


def _plan(fwd: LinkProfile, rev: LinkProfile | None = None, **shape):
    spec = chain("client", "router", "server",
                 shapes={"client-router": LinkShape(fwd, rev or LinkProfile(), **shape)})
    return userspace_plan(spec, "t00000")


def test_a_delay_the_delay_line_can_add_gets_a_channel_each_way():
    plan = _plan(LinkProfile(delay_ms=1.0), LinkProfile(delay_ms=2.0))
    assert sorted(c.direction for c in plan.channels) == ["in", "out"]
    assert plan.unshaped == []


@pytest.mark.parametrize("delay_ms, jitter_ms", [(0.1, 0.0), (0.2, 0.2), (USERSPACE_RESOLUTION_MS - 0.01, 0.0)])
def test_a_delay_under_the_resolution_is_left_on_the_veth_and_said(delay_ms, jitter_ms):
    plan = _plan(LinkProfile(delay_ms=delay_ms, jitter_ms=jitter_ms))
    assert plan.channels == []
    assert plan.rules == {}
    assert len(plan.unshaped) == 1 and "client->router" in plan.unshaped[0] \
        and "resolution" in plan.unshaped[0], plan.unshaped


def test_only_the_direction_under_the_resolution_is_left_unshaped():
    plan = _plan(LinkProfile(delay_ms=0.1), LinkProfile(delay_ms=5.0))
    assert len(plan.channels) == 1 and plan.channels[0].profile.delay_ms == 5.0
    assert len(plan.unshaped) == 1 and "client->router" in plan.unshaped[0]


@pytest.mark.parametrize("profile", [LinkProfile(delay_ms=0.1, loss_pct=1.0),
                                     LinkProfile(gilbert_elliott=GilbertElliott(p=1, r=50, h_loss=100, k_loss=0))])
def test_loss_always_goes_through_the_delay_line(profile):
    plan = _plan(profile)
    assert len(plan.channels) == 1 and plan.unshaped == []


def test_through_emulator_keeps_even_a_small_delay_in_the_delay_line():
    plan = _plan(LinkProfile(delay_ms=0.1), LinkProfile(), through_emulator=True)
    assert len(plan.channels) == 2 and plan.unshaped == []


def test_rate_is_tbf_whatever_the_delay():
    plan = _plan(LinkProfile(delay_ms=0.1, rate_mbit=10))
    assert plan.channels == [] and [r.kind for r in plan.tbf] == ["tbf"]
