"""RST attribution: the taps name the host that emitted the RST a client received."""

import json
import socket
import subprocess
import sys
import time

import pytest

from harness.origin.testing import h1_request, messages_body
from netem import ConntrackTimeouts, Nat, chain
from netem.tap import Tap

pytestmark = pytest.mark.netns


def _origin(host, port=8000, extra=()):
    proc = host.popen([sys.executable, "-m", "harness", "origin", "--listen", f"{host.address}:{port}",
                       *extra], stdout=subprocess.PIPE, text=True)
    assert "listening on" in proc.stdout.readline()
    return (host.address, port)


def test_origin_reset_is_attributed_to_the_origin(make_topology):
    topo = make_topology(chain("client", "router", "origin", nat=Nat("router", "router-origin")))
    addr = _origin(topo["origin"])
    plan = json.dumps([{"when": {"after_events": 5}, "do": {"tcp_rst": {}}}])
    with Tap(topo) as tap:
        res = topo["client"].call(h1_request, addr, body=messages_body(),
                                  headers={"x-api-key": "k", "x-resetlab-plan": plan})
    assert res.end == "reset"
    assert tap.who_reset("client") == "origin"
    # the router forwarded it: seen in and out there, so it is not the emitter
    assert {s.direction for s in tap.rsts() if s.host == "router"} == {"in", "out"}


def test_edge_reset_is_attributed_to_the_edge(make_topology):
    topo = make_topology(chain("client", "router", "edge", "origin"))
    up = _origin(topo["origin"], extra=["--stream", json.dumps({"idle": [{"after_event": 3, "seconds": 2}]})])
    edge_addr = topo["edge"].address_on("router-edge")
    policy = json.dumps({"idle_timeout": 0.5, "on_limit": "rst"})
    proc = topo["edge"].popen([sys.executable, "-m", "harness", "edge", "--listen", f"{edge_addr}:8080",
                               "--upstream", f"{up[0]}:{up[1]}", "--policy", policy],
                              stdout=subprocess.PIPE, text=True)
    assert "listening on" in proc.stdout.readline()
    with Tap(topo) as tap:
        res = topo["client"].call(h1_request, (edge_addr, 8080), body=messages_body(), headers={"x-api-key": "k"})
    assert res.end == "reset"
    assert tap.who_reset("client") == "edge"


def test_nat_eviction_reset_is_attributed_to_the_origin(make_topology):
    """After eviction the client's next segment gets a new source port; the origin has no
    such connection and answers RST, which the NAT forwards to the client."""
    topo = make_topology(chain("client", "router", "origin",
                               nat=Nat("router", "router-origin", ConntrackTimeouts(established=1))))
    srv = topo["origin"].socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((topo["origin"].address, 9000))
    srv.listen()
    cli = topo["client"].socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.connect((topo["origin"].address, 9000))
    conn, _ = srv.accept()
    with Tap(topo) as tap:
        cli.sendall(b"a")
        conn.recv(1)
        time.sleep(2.5)
        cli.sendall(b"b")
        cli.settimeout(3)
        with pytest.raises(ConnectionResetError):
            cli.recv(1)
    for s in (cli, conn, srv):
        s.close()
    assert tap.who_reset("client") == "origin"


def test_client_kernel_reset_is_attributed_to_the_client(make_topology):
    """A client closing with unread data makes its own kernel send RST (SO_LINGER 0 here)."""
    import struct

    topo = make_topology(chain("client", "router", "origin"))
    srv = topo["origin"].socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((topo["origin"].address, 9001))
    srv.listen()
    cli = topo["client"].socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.connect((topo["origin"].address, 9001))
    conn, _ = srv.accept()
    with Tap(topo) as tap:
        cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        cli.close()
        time.sleep(0.1)
    conn.close()
    srv.close()
    assert tap.who_reset("origin") == "client"
    assert tap.who_reset("client") == "client"


@pytest.mark.parametrize("world", ["h1-stream-limit", "h1-size-duration"])
def test_world_probes_name_who_reset(world):
    """ProbeSpec(tap=True): the record's rst_from names the host whose RST reached the
    client. The client's TCP connection ends at the edge, so that is the edge both when its
    own budget trips and when it mirrors the origin worker's RST (a CDN hides the origin)."""
    from harness.lab.runtime import RunningWorld
    from harness.worlds import by_name
    from harness.worlds.model import ProbeSpec

    spec = {"h1-stream-limit": ProbeSpec(duration=300, tap=True),
            "h1-size-duration": ProbeSpec(size=10_000_000, duration=100, tap=True)}[world]
    with RunningWorld(by_name(world)) as rw:
        rec = rw.probe(spec)
    assert rec.outcome == "reset_mid_stream"
    assert rec.rst_from == "edge"  # the client's connection ends at the edge either way
