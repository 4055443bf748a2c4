"""SIGTERM to a self-check started in the background (SIGINT ignored, as `nohup ... &` leaves
it): it stops its running worlds -- each tears down its namespaces -- and exits 143."""

import os
import signal
import subprocess
import sys
import time

import pytest

from netem import nsexec, registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.netns
def test_sigterm_stops_a_background_selfcheck_and_its_worlds(tmp_path):
    err = open(tmp_path / "stderr", "w")
    proc = subprocess.Popen([sys.executable, "-m", "harness.selfcheck", "--worlds", "2", "--parallel", "2",
                             "--family", "control", "--seed", "5", "--out", str(tmp_path / "out")], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.DEVNULL, stderr=err,
                            preexec_fn=_ignore_sigint, start_new_session=True)
    deadline, netns, worlds = time.monotonic() + 180, [], []
    while time.monotonic() < deadline and len(worlds) < 2:
        assert proc.poll() is None, (tmp_path / "stderr").read_text()
        worlds = [c for c in _children(proc.pid) if registry.owned_by(c)]
        time.sleep(0.2)
    assert len(worlds) == 2, "the worlds did not start: " + (tmp_path / "stderr").read_text()[-500:]
    time.sleep(3)  # into their searches
    netns = [n for w in worlds for rec in registry.owned_by(w) for n in rec.netns]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=150) == 143, (tmp_path / "stderr").read_text()[-800:]
    assert not [w for w in worlds if os.path.exists(f"/proc/{w}")]
    assert not set(nsexec.list_netns()) & set(netns)
    assert "interrupted (SIGTERM)" in (tmp_path / "stderr").read_text()
