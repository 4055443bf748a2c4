"""Shared fixtures: a topology per test, created and removed by one fixture."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _can_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    return None


NETNS_SKIP = _can_netns()


def pytest_configure(config: pytest.Config) -> None:
    # Sweep what SIGKILLed earlier runs left (only runs whose owner process is dead;
    # live parallel workers are left alone). Only the controller does it, not xdist workers.
    if NETNS_SKIP or hasattr(config, "workerinput"):
        return
    from netem.registry import find_leftovers, sweep

    left = find_leftovers()
    if not left.empty():
        sweep(left)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not NETNS_SKIP:
        return
    skip = pytest.mark.skip(reason=NETNS_SKIP)
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(skip)


def available_backends() -> list[str]:
    if NETNS_SKIP:
        return ["userspace"]
    from netem.shaping import kernel_netem_available

    return ["userspace"] + (["kernel"] if kernel_netem_available() else [])


@pytest.fixture
def make_topology():
    """make_topology(spec, backend=...) -> a started Topology, closed after the test."""
    from netem.topology import Topology

    opened: list[Topology] = []

    def make(spec, backend: str = "userspace") -> Topology:
        topo = Topology(spec, backend=backend)
        topo.__enter__()
        opened.append(topo)
        return topo

    yield make
    for topo in reversed(opened):
        topo.close()
