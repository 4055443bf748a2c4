"""What each run created, on disk, so leftovers of a SIGKILLed run can be swept.

/run/resetlab/<run-id>.json: {"run_id", "owner_pid", "owner_start", "netns": [...],
"pids": [...]}. The record is written before anything is created and updated as things
are, so a run killed at any point leaves enough for `python -m netem cleanup`. A run whose
owner process is alive is never touched by cleanup (parallel workers are left alone).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field

from . import names, nsexec

REGISTRY_DIR = os.environ.get("RESETLAB_REGISTRY_DIR", "/run/resetlab")


def _proc_start(pid: int) -> str | None:
    """Process start time (field 22 of /proc/pid/stat): tells a live owner from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class RunRecord:
    run_id: str
    owner_pid: int = field(default_factory=os.getpid)
    owner_start: str | None = None
    netns: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.owner_start is None:
            self.owner_start = _proc_start(self.owner_pid)

    @property
    def path(self) -> str:
        return os.path.join(REGISTRY_DIR, f"{self.run_id}.json")

    def save(self) -> None:
        os.makedirs(REGISTRY_DIR, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.__dict__, f)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        for path in (self.path, self.path + ".tmp"):  # .tmp: a save cut short by a SIGKILL
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def owner_alive(self) -> bool:
        return self.owner_start is not None and _proc_start(self.owner_pid) == self.owner_start


def load_records() -> dict[str, RunRecord]:
    out = {}
    try:
        entries = os.listdir(REGISTRY_DIR)
    except FileNotFoundError:
        return out
    for e in entries:
        if not e.endswith(".json"):
            continue
        try:
            with open(os.path.join(REGISTRY_DIR, e)) as f:
                rec = RunRecord(**json.load(f))
            out[rec.run_id] = rec
        except (OSError, ValueError, TypeError):
            continue
    return out


def owned_by(pid: int) -> list[RunRecord]:
    """The live records of the runs process `pid` owns (what it has made, e.g. for a test)."""
    return [r for r in load_records().values() if r.owner_pid == pid]


def _tmp_runs(min_age: float = 10.0) -> set[str]:
    """Runs with only a stale <run>.json.tmp (older than min_age s: a live run renames its
    own within microseconds, and must not find it gone)."""
    out = set()
    try:
        entries = os.listdir(REGISTRY_DIR)
    except FileNotFoundError:
        return out
    for e in entries:
        if e.endswith(".json.tmp"):
            try:
                if time.time() - os.stat(os.path.join(REGISTRY_DIR, e)).st_mtime > min_age:
                    out.add(e[:-len(".json.tmp")])
            except FileNotFoundError:
                continue
    return out


@dataclass
class Leftovers:
    netns: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    host_links: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.netns or self.pids or self.host_links or self.records)

    def lines(self) -> list[str]:
        return ([f"netns {n}" for n in self.netns] + [f"process {p}" for p in self.pids]
                + [f"host link {n}" for n in self.host_links] + [f"registry {r}" for r in self.records])


def _host_links() -> list[str]:
    # links in the host namespace never should carry our prefix; sweep them if they do
    try:
        return sorted(n for n in os.listdir("/sys/class/net") if names.IFNAME_RE.match(n))
    except FileNotFoundError:
        return []


def find_leftovers(include_live: bool = False) -> Leftovers:
    records = load_records()
    live = {r for r, rec in records.items() if rec.owner_alive()} if not include_live else set()
    left = Leftovers()
    for ns in nsexec.list_netns():
        run = names.run_of_netns(ns)
        if run is None or run in live:
            continue
        left.netns.append(ns)
        left.pids.extend(nsexec.pids_in_netns(ns))
    left.records = [run for run in records if run not in live]
    # a save cut short (SIGKILL between writing <run>.json.tmp and renaming it)
    left.records += sorted(run for run in _tmp_runs() if run not in live and run not in records)
    left.host_links = _host_links()
    left.pids = sorted(set(left.pids))
    return left


def sweep(left: Leftovers) -> None:
    """Kill the leftover processes (by pid, only those inside our namespaces), then remove."""
    for pid in left.pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    for pid in left.pids:
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.01)
    for ns in left.netns:
        nsexec.remove_netns(ns)
    if left.host_links:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            for n in left.host_links:
                for idx in ipr.link_lookup(ifname=n):
                    ipr.link("del", index=idx)
    for run in left.records:
        RunRecord(run, owner_start="").remove()
