"""After a SIGKILL, `python -m netem cleanup` leaves nothing with the prefix behind (what a
run's reaper did not sweep: here the reaper is killed too; test_reaper.py covers the reaper)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import backend_params
from netem import nsexec

from .hoststate import snapshot

pytestmark = [pytest.mark.netns, pytest.mark.parametrize("backend", backend_params())]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Builds a shaped NAT world (a delay line process or netem qdiscs, an nft table) and starts a grandchild that
# does not die with its parent (like a daemonizing proxy would), then waits to be killed.
CHILD = r"""
import subprocess, sys, time
from netem import *
spec = chain("client", "router", "server",
             shapes={"client-router": LinkShape.symmetric(LinkProfile(delay_ms=5))},
             nat=Nat("router", "router-server"))
with Topology(spec, backend=sys.argv[1]) as topo:
    sh = topo["server"].popen(["sh", "-c", "sleep 600 & echo started; wait"], stdout=subprocess.PIPE)
    sh.stdout.readline()  # the grandchild exists before anyone is told the world is up
    print(topo.run_id, topo._reaper.pid, flush=True)
    time.sleep(600)
"""


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "netem", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_sigkilled_world_is_swept_by_cleanup(backend):
    before = snapshot()
    child = subprocess.Popen([sys.executable, "-c", CHILD, backend], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    run_id, reaper = child.stdout.readline().split()
    assert len(run_id) == 6, run_id
    mine = [n for n in nsexec.list_netns() if n.startswith(f"rl-{run_id}-")]
    assert len(mine) == 3
    os.kill(int(reaper), signal.SIGKILL)  # a leftover the reaper cannot take: it died first
    time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    time.sleep(0.2)
    # the grandchild `sleep` survives its killed ancestors, inside the server namespace
    survivors = [p for n in mine for p in nsexec.pids_in_netns(n)]
    assert survivors, "expected a stray process inside the killed world"

    dry = _cli("cleanup", "--dry-run")
    assert dry.returncode == 0
    for n in mine:
        assert f"would remove netns {n}" in dry.stdout
    assert set(nsexec.list_netns()) >= set(mine), "--dry-run removed something"

    done = _cli("cleanup")
    assert done.returncode == 0, done.stderr
    assert not [n for n in nsexec.list_netns() if n.startswith(f"rl-{run_id}-")]
    for pid in survivors:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), f"process {pid} survived cleanup"
    assert not os.path.exists(f"/run/resetlab/{run_id}.json")
    after = snapshot()
    for key in before:
        assert after[key] == before[key], f"host {key} changed"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_release_everything(sig, backend):
    # A shell's background job (e.g. `.ci/run ... &`) starts with SIGINT ignored, and the child
    # would inherit that: give it the disposition a terminal's Ctrl-C meets.
    child = subprocess.Popen([sys.executable, "-c", CHILD, backend], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run_id = child.stdout.readline().split()[0]
    mine = [n for n in nsexec.list_netns() if n.startswith(f"rl-{run_id}-")]
    inside = [p for n in mine for p in nsexec.pids_in_netns(n)]
    assert len(mine) == 3 and inside  # (the delay line,) sh and its sleep
    child.send_signal(sig)
    child.wait(timeout=15)
    assert not [n for n in nsexec.list_netns() if n.startswith(f"rl-{run_id}-")]
    assert not os.path.exists(f"/run/resetlab/{run_id}.json")
    for pid in inside:  # ended by the world itself, the daemonized `sleep` included
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), pid


def test_cleanup_leaves_live_runs_alone(make_topology, backend):
    from netem import LinkProfile, LinkShape, chain

    topo = make_topology(chain("client", "router", "server", shapes={
        "client-router": LinkShape.symmetric(LinkProfile(delay_ms=5))}), backend)
    out = _cli("cleanup", "--dry-run").stdout
    assert topo.run_id not in out
    assert all(os.path.exists(nsexec.netns_path(h.netns)) for h in topo.hosts.values())


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
