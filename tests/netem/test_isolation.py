"""Worlds have no path out of their namespaces, and leave the host namespace untouched."""

import errno
import socket
import time

import pytest

from conftest import backend_params
from netem import (
    ConntrackTimeouts,
    LinkProfile,
    LinkShape,
    Nat,
    OutageSchedule,
    Topology,
    Window,
    chain,
)
from netem.outage import running

from .hoststate import host_addresses, snapshot

pytestmark = [pytest.mark.netns, pytest.mark.parametrize("backend", backend_params())]


def _full_world():
    return chain("client", "router", "edge", "origin",
                 shapes={"client-router": LinkShape.symmetric(LinkProfile(delay_ms=5, loss_pct=1, rate_mbit=100))},
                 nat=Nat("router", "router-edge", ConntrackTimeouts(established=30)))


def test_no_path_out_from_any_host(make_topology, backend):
    topo = make_topology(_full_world(), backend)
    outside = [a for a in host_addresses() if not a.startswith("127.")] + ["10.0.0.1", "1.1.1.1"]
    assert len(outside) >= 2
    for host in topo.hosts.values():
        for addr in outside:
            s = host.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            t0 = time.monotonic()
            with pytest.raises(OSError) as info:
                s.connect((addr, 443))
            s.close()
            assert info.value.errno == errno.ENETUNREACH, (host.name, addr, info.value)
            assert time.monotonic() - t0 < 0.5, "failed, but not at once"


def test_host_namespace_unchanged_by_build_use_and_teardown(backend):
    before = snapshot()
    with Topology(_full_world(), backend) as topo:
        # exercise shaping, NAT and both outage kinds while it lives
        with running(topo, OutageSchedule("router-edge", (Window(0, 0.2, "down"), Window(0.3, 0.2, "blackhole")))):
            time.sleep(0.6)
        during = snapshot()
    after = snapshot()
    for key in before:
        assert during[key] == before[key], f"host {key} changed while a world was up"
        assert after[key] == before[key], f"host {key} changed after teardown"


def test_names_carry_prefix_and_run_id(make_topology, backend):
    topo = make_topology(_full_world(), backend)
    for h in topo.hosts.values():
        assert h.netns == f"rl-{topo.run_id}-{h.name}"
        links = h.netlink(lambda ipr: [x.get("ifname") for x in ipr.get_links()])
        assert all(n == "lo" or n.startswith(f"rl-{topo.run_id}-") for n in links), links
