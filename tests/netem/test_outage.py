"""Outages on a schedule: short ones stall a transfer that then completes; long ones fail it
with the kernel's own error, which depends on where the outage is and what kind it is.

Measured here (and asserted below), client uploading with TCP_USER_TIMEOUT = 2 s:
  link down on the client's own access link -> ETIMEDOUT, and now and then ENETUNREACH: the
      client's own routes are flushed, so a retransmission that looks for a route before the
      user timeout fires leaves the routing error as the socket's soft error, which the
      kernel reports instead of ETIMEDOUT (seen once in a CI run of the whole suite)
  link down beyond the router (router-server) -> ENETUNREACH (the router sends ICMP)
  blackhole on either link                    -> ETIMEDOUT
"""

import errno
import socket
import threading
import time

import pytest
import trio

from netem import OutageSchedule, Window, chain
from netem.outage import run_schedule, running

pytestmark = pytest.mark.netns


def _upload(topo, tcp_pair, schedule, seconds, user_timeout_ms=None):
    """Send 16 KB every 5 ms for `seconds`; return (error, bytes sent, bytes received, longest stall)."""
    before = None
    if user_timeout_ms:
        def before(s):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)
    cli, conn = tcp_pair(topo, before_connect=before)
    progress = []

    def sink():
        conn.settimeout(None)
        while True:
            try:
                d = conn.recv(1 << 16)
            except OSError:
                return
            if not d:
                return
            progress.append((time.monotonic(), len(d)))

    t = threading.Thread(target=sink, daemon=True)
    t.start()
    sent, err, t0 = 0, None, time.monotonic()
    with running(topo, schedule):
        try:
            while time.monotonic() - t0 < seconds:
                cli.sendall(b"x" * 16384)
                sent += 16384
                time.sleep(0.005)
        except OSError as e:
            err = e.errno
    if err is None:
        cli.shutdown(socket.SHUT_WR)
    t.join(10)
    times = [p[0] for p in progress]
    stall = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
    return err, sent, sum(p[1] for p in progress), stall


@pytest.mark.parametrize("kind", ["down", "blackhole"])
@pytest.mark.parametrize("link", ["client-router", "router-server"])
def test_short_outage_stalls_then_completes(make_topology, tcp_pair, link, kind):
    topo = make_topology(chain("client", "router", "server"))
    err, sent, received, stall = _upload(topo, tcp_pair, OutageSchedule(link, (Window(0.5, 1.0, kind),)), 3.0)
    assert err is None
    assert received == sent
    assert stall >= 0.8, f"no stall seen across a 1 s {kind} outage (longest gap {stall:.2f} s)"


EXPECTED_ERRNO = {
    ("client-router", "down"): {errno.ETIMEDOUT, errno.ENETUNREACH},
    ("router-server", "down"): {errno.ENETUNREACH},
    ("client-router", "blackhole"): {errno.ETIMEDOUT},
    ("router-server", "blackhole"): {errno.ETIMEDOUT},
}


@pytest.mark.slow
@pytest.mark.parametrize("link, kind", sorted(EXPECTED_ERRNO))
def test_long_outage_fails_with_the_kernels_error(make_topology, tcp_pair, link, kind):
    topo = make_topology(chain("client", "router", "server"))
    schedule = OutageSchedule(link, (Window(0.3, 8.0, kind),))
    err, sent, received, _ = _upload(topo, tcp_pair, schedule, 7.0, user_timeout_ms=2000)
    assert err in EXPECTED_ERRNO[(link, kind)], f"got {errno.errorcode.get(err, err)}"


def test_link_works_again_after_the_schedule(make_topology, tcp_pair):
    topo = make_topology(chain("client", "router", "server"))

    async def main():
        sched = OutageSchedule("router-server", (Window(0.0, 0.2, "down"), Window(0.3, 0.2, "blackhole")))
        return await run_schedule(topo, sched)

    log = trio.run(main)
    assert [w.kind for w in log.applied] == ["down", "blackhole"]
    assert all(w.ended - w.began == pytest.approx(0.2, abs=0.15) for w in log.applied)
    cli, conn = tcp_pair(topo)  # routes restored, blackhole rules gone
    cli.sendall(b"ok")
    assert conn.recv(2) == b"ok"


def test_cancelled_schedule_lifts_the_active_fault(make_topology, tcp_pair):
    topo = make_topology(chain("client", "router", "server"))

    async def main():
        with trio.move_on_after(0.3):
            await run_schedule(topo, OutageSchedule("router-server", (Window(0.1, 60, "blackhole"),)))

    trio.run(main)
    cli, conn = tcp_pair(topo)
    cli.sendall(b"ok")
    assert conn.recv(2) == b"ok"


def test_poisson_schedule_is_seeded_and_well_formed():
    a = OutageSchedule.poisson("l", rate_per_s=0.5, mean_duration=2.0, horizon=300, seed=1)
    b = OutageSchedule.poisson("l", rate_per_s=0.5, mean_duration=2.0, horizon=300, seed=1)
    c = OutageSchedule.poisson("l", rate_per_s=0.5, mean_duration=2.0, horizon=300, seed=2)
    assert a == b and a != c
    assert all(w.start < 300 for w in a.windows)
    assert all(x.end <= y.start for x, y in zip(a.windows, a.windows[1:], strict=False))
    # about rate * (horizon - time spent down) arrivals: 300 s, ~1/3 of it down -> ~100
    assert 60 <= len(a.windows) <= 140
    assert a.scaled(0.1).windows[0].start == pytest.approx(a.windows[0].start * 0.1)
