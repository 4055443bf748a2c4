"""Ctrl-C and SIGTERM on `python -m harness run`: exit 130 / 143, the results folder marked
partial (falsification.json, falsification.md, report.html), every namespace and process of
the run released -- also when a second Ctrl-C lands during the cleanup."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from netem import nsexec, registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start_run(tmp_path, *extra):
    """A run (what it creates: netem.registry.owned_by its pid); stderr to a file to poll."""
    err = open(tmp_path / "stderr", "w")
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--world", "h4", "--repeats", "2",
                             "--out", str(tmp_path / "out"), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    return proc, proc.pid


def _wait_for_probes(proc, tmp_path, n: int = 2, timeout: float = 240) -> list[str]:
    """Wait until the run has finished n probes (its progress lines); the netns it made."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "stderr").read_text()
        if (tmp_path / "stderr").read_text().count("] ") >= n:
            netns = [n for rec in registry.owned_by(proc.pid) for n in rec.netns]
            assert netns
            return netns
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the run made no progress in time: " + (tmp_path / "stderr").read_text()[-500:])


def _released(netns: list[str], owner: int) -> None:
    left = set(nsexec.list_netns()) & set(netns)
    assert not left, left
    assert not registry.owned_by(owner), "registry record left"


def _partial(tmp_path, signame: str) -> None:
    doc = json.loads((tmp_path / "out" / "falsification.json").read_text())
    assert doc["partial"] is True and signame in doc["partial_reason"], doc.get("partial_reason")
    assert "probes (h4)" in doc["partial_reason"]
    assert "Partial results" in (tmp_path / "out" / "falsification.md").read_text()
    assert "Partial results" in (tmp_path / "out" / "report.html").read_text()
    lines = (tmp_path / "out" / "probes.jsonl").read_text().splitlines()
    assert len(lines) >= 2  # the probes finished before the interrupt are kept
    err = (tmp_path / "stderr").read_text()
    assert "Traceback" not in err and f"interrupted by {signame}" in err


@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_interrupted_exits_non_zero_with_partial_results(tmp_path, sig, status):
    proc, owner = _start_run(tmp_path, "--no-mitigations")
    netns = _wait_for_probes(proc, tmp_path)
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == status
    _partial(tmp_path, signal.Signals(sig).name)
    _released(netns, owner)


@pytest.mark.netns
@pytest.mark.slow
def test_second_ctrl_c_during_cleanup_does_not_leak(tmp_path):
    proc, owner = _start_run(tmp_path, "--no-mitigations")
    netns = _wait_for_probes(proc, tmp_path)
    proc.send_signal(signal.SIGINT)
    for _ in range(5):  # more Ctrl-C while it tears down and writes
        time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    _partial(tmp_path, "SIGINT")
    _released(netns, owner)


def test_a_finished_run_clears_an_old_partial_mark(tmp_path):
    from harness.cli_run import write_partial
    from harness.report import _partial as mark

    write_partial(str(tmp_path), "interrupted by SIGINT during world x's probes")
    assert mark(str(tmp_path)) == "interrupted by SIGINT during world x's probes"
    write_partial(str(tmp_path), None)
    assert mark(str(tmp_path)) is None


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_probe_interrupted_exits_non_zero_with_partial_results(tmp_path, sig, status):
    """`probe --base-url` against the mock origin on loopback: interrupted after a few
    probes, it writes what it measured, judged and marked partial, and exits 130 / 143."""
    from harness.origin import OriginConfig, OriginThread

    with OriginThread(OriginConfig(stream={"deltas": 8, "ping_interval": None})) as o:
        err = open(tmp_path / "stderr", "w")
        env = {**os.environ, "PYTHONPATH": ROOT, "RESETLAB_TEST_KEY": "dummy"}
        proc = subprocess.Popen([sys.executable, "-m", "harness", "probe", "--base-url", o.url, "--api-key-env",
                                 "RESETLAB_TEST_KEY", "--yes", "--out", str(tmp_path / "out")], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while (tmp_path / "stderr").read_text().count("] ") < 6:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr").read_text()[-500:]
                time.sleep(0.1)
            proc.send_signal(sig)
            assert proc.wait(timeout=120) == status, (tmp_path / "stderr").read_text()[-800:]
        finally:
            if proc.poll() is None:
                proc.kill()
    doc = json.loads((tmp_path / "out" / "falsification.json").read_text())
    name = signal.Signals(sig).name
    assert doc["partial"] is True and name in doc["partial_reason"], doc.get("partial_reason")
    assert set(doc["hypotheses"]) == {"h1", "h2", "h3", "h4", "h5"}
    assert len((tmp_path / "out" / "probes.jsonl").read_text().splitlines()) >= 6
    text = (tmp_path / "stderr").read_text()
    assert "Traceback" not in text and f"interrupted by {name}" in text
