"""A SIGKILLed owner's namespaces and processes go within 5 s, with no sweep: each Topology
has a reaper (netem/reaper.py) holding a pipe to its owner."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from netem import nsexec, registry

pytestmark = pytest.mark.netns
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GONE_WITHIN = 5.0

# an xdist-like worker: owns `n` topologies (each with a process inside), says so, then waits
OWNER = textwrap.dedent("""
    import json, sys, time
    from netem import Topology, chain
    n = int(sys.argv[1])
    topos = [Topology(chain("client", "router", "server")).__enter__() for _ in range(n)]
    procs = [t["server"].popen(["sleep", "1000"]) for t in topos]
    print(json.dumps({"netns": [h.netns for t in topos for h in t.hosts.values()],
                      "pids": [p.pid for p in procs],
                      "reapers": [t._reaper.pid for t in topos]}), flush=True)
    time.sleep(1000)
""")


def _env(tmp_path) -> dict:
    return {**os.environ, "PYTHONPATH": ROOT}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(netns: list[str], pids: list[int], owner: int) -> float:
    """Seconds until every namespace, process and registry record is gone (fails after 5 s)."""
    t0 = time.monotonic()
    while True:
        left_ns = set(netns) & set(nsexec.list_netns())
        left_pids = [p for p in pids if _alive(p)]
        left_rec = [r.run_id for r in registry.owned_by(owner)]
        if not (left_ns or left_pids or left_rec):
            return time.monotonic() - t0
        if time.monotonic() - t0 > GONE_WITHIN:
            pytest.fail(f"after {GONE_WITHIN} s: netns {sorted(left_ns)}, pids {left_pids}, records {left_rec}")
        time.sleep(0.05)


@pytest.mark.parametrize("n", [1, 4])
def test_sigkilled_owner_leaves_nothing_within_5_s(tmp_path, n):
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(n)], cwd=ROOT, env=_env(tmp_path),
                             stdout=subprocess.PIPE, text=True)
    info = json.loads(owner.stdout.readline())
    assert len(info["netns"]) == 3 * n and set(info["netns"]) <= set(nsexec.list_netns())
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    took = _wait_gone(info["netns"], info["pids"] + info["reapers"], owner.pid)
    print(f"{n} topologies swept {took:.2f} s after SIGKILL")


def test_a_closed_topology_releases_its_reaper():
    from netem import Topology, chain

    with Topology(chain("a", "b")) as topo:
        reaper = topo._reaper
        assert _alive(reaper.pid)
        netns = [h.netns for h in topo.hosts.values()]
    assert reaper.wait(timeout=GONE_WITHIN) == 0  # told "done": it leaves, sweeping nothing
    assert not set(netns) & set(nsexec.list_netns())


@pytest.mark.slow
def test_sigkilled_harness_run_leaves_nothing_within_5_s(tmp_path):
    env = _env(tmp_path)
    err = open(tmp_path / "stderr", "w")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--world", "h3", "--repeats", "1",
                             "--no-mitigations", "--out", str(tmp_path / "out")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 240
    netns: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        if (tmp_path / "stderr").read_text().count("] ") >= 2:  # mid-world: probes running
            netns = [n for rec in registry.owned_by(proc.pid) for n in rec.netns]
            if netns:
                break
        time.sleep(0.1)
    assert netns, (tmp_path / "stderr").read_text()[-500:]
    pids = [p for ns in netns for p in nsexec.pids_in_netns(ns)]
    assert pids  # the origin, the edge, the delay line
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    took = _wait_gone(netns, pids, proc.pid)
    print(f"harness run swept {took:.2f} s after SIGKILL")
