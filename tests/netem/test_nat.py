"""NAT router: conntrack eviction after an idle gap, and TCP keepalive as the cure.

T (the established timeout) is 2 s; gaps are 0.8 s (well under) and 3.5 s (well over),
so a second of scheduling noise on a loaded CI machine cannot flip an outcome.
"""

import errno
import socket
import time

import pytest

from netem import ConntrackTimeouts, Nat, chain

pytestmark = [pytest.mark.netns, pytest.mark.slow]
T = 2


def _nat_world(stale="new_mapping"):
    return chain("client", "router", "server",
                 nat=Nat("router", "router-server", ConntrackTimeouts(established=T), stale=stale))


def _exchange_after(cli, conn, gap):
    """Echo once, idle `gap` seconds, then the client talks first. Returns the error or None."""
    cli.sendall(b"a")
    assert conn.recv(1) == b"a"
    time.sleep(gap)
    try:
        cli.sendall(b"b")
        cli.settimeout(1.5)
        conn.settimeout(1.5)
        got = conn.recv(1)  # the server only sees it if the mapping survived
        conn.sendall(b"c")
        assert cli.recv(1) == b"c"
        return None if got == b"b" else "lost"
    except TimeoutError:
        try:
            cli.recv(1)  # did a reset arrive meanwhile?
        except TimeoutError:
            return "lost"
        except OSError as e:
            return e.errno
        return "lost"
    except OSError as e:
        return e.errno


def _keepalive(idle, interval=0.5, count=3):
    def setup(s):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, int(interval)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
    return setup


@pytest.mark.parametrize("shaped", [(), ("client-router",), ("router-server",), ("client-router", "router-server")],
                         ids=["none", "inside", "outside", "both"])
def test_masquerade_through_delay_lines(make_topology, tcp_pair, shaped):
    """The NAT decision is taken once, at the boundary, however many delay stages there are."""
    from netem import LinkProfile, LinkShape

    shapes = {label: LinkShape.symmetric(LinkProfile(delay_ms=3)) for label in shaped}
    spec = chain("client", "router", "server", shapes=shapes,
                 nat=Nat("router", "router-server", ConntrackTimeouts(established=T)))
    topo = make_topology(spec)
    cli, conn = tcp_pair(topo)
    assert conn.getpeername()[0] == topo["router"].address_on("router-server")
    assert _exchange_after(cli, conn, 0.1) is None
    assert _exchange_after(cli, conn, T + 1.5) == errno.ECONNRESET  # eviction still works


def test_masquerade_hides_the_client(make_topology, tcp_pair):
    topo = make_topology(_nat_world())
    cli, conn = tcp_pair(topo)
    assert conn.getpeername()[0] == topo["router"].address_on("router-server")
    # the timeouts are the router namespace's own
    assert topo["router"].sysctl("net.netfilter.nf_conntrack_tcp_timeout_established") == str(T)
    assert topo["client"].sysctl("net.netfilter.nf_conntrack_tcp_timeout_established") != str(T)


def test_gap_shorter_than_timeout_no_reset(make_topology, tcp_pair):
    topo = make_topology(_nat_world())
    cli, conn = tcp_pair(topo)
    assert _exchange_after(cli, conn, 0.8 * T / 2) is None


def test_gap_longer_than_timeout_resets(make_topology, tcp_pair):
    topo = make_topology(_nat_world())
    cli, conn = tcp_pair(topo)
    assert _exchange_after(cli, conn, T + 1.5) == errno.ECONNRESET


def test_keepalive_shorter_than_timeout_no_reset(make_topology, tcp_pair):
    topo = make_topology(_nat_world())
    cli, conn = tcp_pair(topo, before_connect=_keepalive(idle=1))
    assert _exchange_after(cli, conn, T + 1.5) is None


def test_keepalive_longer_than_timeout_resets(make_topology, tcp_pair):
    # the keepalive probe itself (at idle=3 s > T) meets the evicted mapping
    topo = make_topology(_nat_world())
    cli, conn = tcp_pair(topo, before_connect=_keepalive(idle=T + 1))
    assert _exchange_after(cli, conn, T + 2.5) == errno.ECONNRESET


def test_drop_invalid_blackholes_instead_of_resetting(make_topology, tcp_pair):
    topo = make_topology(_nat_world(stale="drop_invalid"))
    cli, conn = tcp_pair(topo)
    assert _exchange_after(cli, conn, T + 1.5) == "lost"
