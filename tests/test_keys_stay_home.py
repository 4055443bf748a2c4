"""Keys stay home: with a real-looking key in ANTHROPIC_API_KEY (and other secret-named
variables), nothing the lab runs -- the engine, a matrix cell, every client, mitigation
sessions, a Claude Code workload with its home kept, lab-vs-field -- sends it, records it,
logs it, writes it into a Claude Code home, or hands it to a lab process's environment.
Lab targets get the lab key; only a variable the user names (probe --base-url
--api-key-env, client --api-key-env) is read.
"""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from harness.clients.common import LAB_KEY, api_key
from harness.clients.probe import Probe
from netem import nsexec, registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = "sk-ant-api03-RESETLAB-FAKE-KEY-4f1d2c9a8b7e6d5c4b3a2910-QQQQ"
FAKE_TOKEN = "RESETLAB-FAKE-TOKEN-77aa55cc"
SECRET_ENV = {"ANTHROPIC_API_KEY": FAKE, "ANTHROPIC_AUTH_TOKEN": FAKE_TOKEN, "MY_SERVICE_SECRET": FAKE_TOKEN}


def _leaks(text: str) -> bool:
    # the whole key, or its tail (Claude Code's approved-keys list keeps the last 20 characters)
    return FAKE in text or FAKE[-20:] in text or FAKE_TOKEN in text


def test_a_probe_uses_the_lab_key_unless_a_variable_is_named(monkeypatch):
    for k, v in SECRET_ENV.items():
        monkeypatch.setenv(k, v)
    assert api_key(Probe(base_url="http://127.0.0.1:9")) == LAB_KEY
    monkeypatch.setenv("MY_NAMED_KEY", "sk-named")
    assert api_key(Probe(base_url="http://127.0.0.1:9", api_key_env="MY_NAMED_KEY")) == "sk-named"
    env = nsexec.scrubbed_environ()
    assert not any(k in env for k in SECRET_ENV) and "PATH" in env


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


class EnvironWatch:
    """Reads /proc/<pid>/environ of every process inside the rl- namespaces of the runs that
    process `owner` owns (or of the given netns), every 50 ms, while a lab runs."""

    def __init__(self, owner: int | None = None, netns: list[str] | None = None):
        self.owner, self.netns = owner, netns or []
        self.seen_pids: set[int] = set()
        self.leaky: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _names(self) -> list[str]:
        names = list(self.netns)
        if self.owner is not None:
            names += [n for rec in registry.owned_by(self.owner) for n in rec.netns]
        return names

    def _loop(self) -> None:
        while not self._stop.is_set():
            for ns in self._names():
                for pid in nsexec.pids_in_netns(ns):
                    try:
                        with open(f"/proc/{pid}/environ", "rb") as f:
                            env = f.read().decode(errors="replace")
                    except OSError:
                        continue
                    self.seen_pids.add(pid)
                    if _leaks(env):
                        cmd = _cmdline(pid)
                        # a fork of the user's own command between fork and exec (popen_in
                        # enters the namespace there, and exec gives it the scrubbed env) is
                        # the user's process, not a lab one: seen racing in CI once
                        if self.owner is not None and cmd == _cmdline(self.owner):
                            continue
                        self.leaky.append(f"pid {pid} in {ns}: {cmd[:200]}")
            time.sleep(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _grep_tree(*folders) -> list[str]:
    hits = []
    for folder in folders:
        for root, _, files in os.walk(folder):
            for f in files:
                path = os.path.join(root, f)
                try:
                    with open(path, "rb") as fh:
                        if _leaks(fh.read().decode(errors="replace")):
                            hits.append(path)
                except OSError:
                    pass
    return hits


def _harness(tmp_path, *args, timeout=900):
    env = {**os.environ, **SECRET_ENV, "PYTHONPATH": ROOT, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    with EnvironWatch(proc.pid) as watch:
        out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    assert not _leaks(out + err)
    assert watch.seen_pids, "no lab process was seen: the watch saw nothing to check"
    assert not watch.leaky, watch.leaky
    assert not _grep_tree(tmp_path), _grep_tree(tmp_path)
    return out


@pytest.mark.netns
@pytest.mark.slow
def test_matrix_cell_and_every_client_send_the_lab_key(monkeypatch, tmp_path):
    from harness.clients import claude_code, node_sdk
    from harness.lab.runtime import RunningWorld
    from harness.worlds import by_name
    from harness.worlds.model import ProbeSpec
    from tests.requires import installed

    installed(node_sdk.FOLDER)
    installed(claude_code.FOLDER)
    for k, v in SECRET_ENV.items():
        monkeypatch.setenv(k, v)
    clients = ["raw", "python-sdk", "node-sdk", "claude-code"]
    with RunningWorld(by_name("h5")) as rw:
        netns = [h.netns for h in rw.topo.hosts.values()]
        with EnvironWatch(netns=netns) as watch:
            recs = [rw.probe(ProbeSpec(size=1024, duration=2, client=c)).to_dict() for c in clients]
        origin = rw.origin_records()
        logs = _grep_tree(rw.workdir)
    assert watch.seen_pids and not watch.leaky, watch.leaky
    assert not logs, logs
    for r in recs:
        assert not _leaks(json.dumps(r)), r["client"]
        assert r["probe"].get("api_key") in (None, "dummy"), r["probe"].get("api_key")
    assert origin and not _leaks(json.dumps(origin))


@pytest.mark.netns
@pytest.mark.slow
def test_engine_mitigations_workload_and_lab_vs_field_keep_the_key_home(tmp_path):
    _harness(tmp_path / "run", "run", "--world", "h5", "--repeats", "1", "--no-mitigations", "--out", "out")
    _harness(tmp_path / "mit", "mitigate", "--world", "h2", "-m", "none", "--turns", "1", "--duration", "5")
    _harness(tmp_path / "wl", "workload", "--world", "control", "--turns", "1", "--sizes", "2000", "--out", "out")
    _harness(tmp_path / "lvf", "lab-vs-field", "--world", "control", "--sessions", "1", "--out", "out")
