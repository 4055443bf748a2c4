"""Origin and edges inside a world's namespaces: client -> router -> edge -> origin."""

import json
import subprocess
import sys

import pytest

from harness.edge import EdgePolicy, RealEdge
from harness.edge.observe import observe
from harness.edge.real import available
from harness.origin.testing import h1_request, messages_body
from netem import chain
from tests.requires import skip_if

pytestmark = pytest.mark.netns


def _start(host, argv):
    """A `python -m harness ...` server inside a host; returns its URL from the ready line."""
    proc = host.popen([sys.executable, "-m", "harness", *argv], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return line.split()[4]


@pytest.fixture
def world(make_topology):
    topo = make_topology(chain("client", "router", "edge", "origin"))
    origin = _start(topo["origin"], ["origin", "--listen", f"{topo['origin'].address}:8000",
                                     "--stream", json.dumps({"deltas": 10, "gap": 0.02})])
    return topo, origin


@pytest.mark.parametrize("impl", ["builtin", "nginx", "haproxy"])
def test_edge_in_its_namespace_relays_and_trips(world, impl):
    if impl != "builtin" and not available(impl):
        skip_if(f"{impl} not installed (scripts/setup.sh installs it)")
    topo, origin = world
    edge_addr = topo["edge"].address_on("router-edge")
    policy = EdgePolicy(idle_timeout=0.5, on_limit="fin")
    upstream = origin.split("//")[1]
    if impl == "builtin":
        _start(topo["edge"], ["edge", "--listen", f"{edge_addr}:8080", "--upstream", upstream,
                              "--policy", json.dumps(policy.to_dict())])
        ctx = None
    else:
        ctx = RealEdge(impl, policy, f"{edge_addr}:8080", upstream, host=topo["edge"]).__enter__()
    try:
        addr = (edge_addr, 8080)
        ok = topo["client"].call(h1_request, addr, body=messages_body(), headers={"x-api-key": "k"})
        assert observe(ok) == "completed"
        silent = {"x-api-key": "k", "x-resetlab-stream": json.dumps({"idle": [{"after_event": 3, "seconds": 1.5}]})}
        cut = topo["client"].call(h1_request, addr, body=messages_body(), headers=silent)
        assert observe(cut) == "fin_mid_stream"
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
