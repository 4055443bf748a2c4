"""Bad input: every LinkProfile / NAT / outage field out of range gives one clear line."""

import pytest

from netem import (
    ConfigError,
    ConntrackTimeouts,
    GilbertElliott,
    LinkProfile,
    Nat,
    OutageSchedule,
    Window,
    chain,
)
from netem.shaping import resolve_backend
from netem.spec import Host, Link, TopologySpec

BAD = [
    (lambda: LinkProfile(delay_ms=-1), "LinkProfile.delay_ms", "-1"),
    (lambda: LinkProfile(delay_ms=70_000), "LinkProfile.delay_ms", "70000"),
    (lambda: LinkProfile(delay_ms="5"), "LinkProfile.delay_ms", "'5'"),
    (lambda: LinkProfile(delay_ms=5, jitter_ms=6), "LinkProfile.jitter_ms", "6"),
    (lambda: LinkProfile(loss_pct=101), "LinkProfile.loss_pct", "101"),
    (lambda: LinkProfile(loss_pct=-0.5), "LinkProfile.loss_pct", "-0.5"),
    (lambda: LinkProfile(rate_mbit=-3), "LinkProfile.rate_mbit", "-3"),
    (lambda: LinkProfile(limit_packets=0), "LinkProfile.limit_packets", "0"),
    (lambda: LinkProfile(limit_packets=2.5), "LinkProfile.limit_packets", "2.5"),
    (lambda: LinkProfile(seed=-1), "LinkProfile.seed", "-1"),
    (lambda: LinkProfile(loss_pct=1, gilbert_elliott=GilbertElliott(1, 10)), "LinkProfile.loss_pct", "1"),
    (lambda: GilbertElliott(p=120, r=5), "GilbertElliott.p", "120"),
    (lambda: GilbertElliott(p=5, r=0), "GilbertElliott.r", "0"),
    (lambda: GilbertElliott(p=5, r=5, h_loss=-1), "GilbertElliott.h_loss", "-1"),
    (lambda: LinkProfile.from_dict({"delay": 5}), "LinkProfile.delay", "5"),
    (lambda: ConntrackTimeouts(established=0), "ConntrackTimeouts.established", "0"),
    (lambda: ConntrackTimeouts(time_wait=-5), "ConntrackTimeouts.time_wait", "-5"),
    (lambda: Nat("router", "router-server", stale="sometimes"), "Nat.stale", "'sometimes'"),
    (lambda: chain("client", "router", "server", nat=Nat("nobody", "router-server")), "Nat.router", "'nobody'"),
    (lambda: chain("client", "router", "server", nat=Nat("router", "x-y")), "Nat.outside", "'x-y'"),
    (lambda: chain("client", "router", "server", nat=Nat("client", "router-server")), "Nat.outside",
     "'router-server'"),
    (lambda: Host("Client!"), "Host.name", "'Client!'"),
    (lambda: TopologySpec((Host("a"),), (Link("a", "b"),)), "Link 'a-b' end", "'b'"),
    (lambda: Window(start=-1, duration=1), "Window.start", "-1"),
    (lambda: Window(start=0, duration=1, kind="flaky"), "Window.kind", "'flaky'"),
    (lambda: OutageSchedule("l", (Window(0, 5), Window(3, 1))), "OutageSchedule.windows", ""),
    (lambda: OutageSchedule.poisson("l", -1, 1, 10), "OutageSchedule.rate_per_s", "-1"),
    (lambda: resolve_backend("fast"), "backend", "'fast'"),
]


@pytest.mark.parametrize("make, field, given", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_value_gives_one_clear_line(make, field, given):
    with pytest.raises(ConfigError) as info:
        make()
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{field}: got {given}"), msg
    assert "; allowed " in msg


def test_good_values_pass_and_roundtrip():
    p = LinkProfile(delay_ms=20, jitter_ms=2, gilbert_elliott=GilbertElliott(1, 20, 80, 0.1),
                    rate_mbit=50, limit_packets=500, seed=7)
    assert LinkProfile.from_dict(p.to_dict()) == p
    assert p.scaled(0.5).delay_ms == 10 and p.scaled(0.5).rate_mbit == 50


def test_gilbert_elliott_stationary_loss():
    ge = GilbertElliott(p=1, r=9, h_loss=100, k_loss=0)
    assert ge.mean_loss() == pytest.approx(10.0)
