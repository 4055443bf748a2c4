"""Shared fixtures: a topology per test, created and removed by one fixture."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _can_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    return None


NETNS_SKIP = _can_netns()


def pytest_configure(config: pytest.Config) -> None:
    # one results/<run-id>/ for the whole session: set before xdist starts its workers
    if not hasattr(config, "workerinput"):
        import time

        os.environ.setdefault("RESETLAB_RUN_ID", time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}")
    # Sweep what SIGKILLed earlier runs left (only runs whose owner process is dead;
    # live parallel workers are left alone). Only the controller does it, not xdist workers.
    if NETNS_SKIP or hasattr(config, "workerinput"):
        return
    from netem.registry import find_leftovers, sweep

    left = find_leftovers()
    if not left.empty():
        sweep(left)


HYPOTHESIS_KEYWORDS = ("control", "h1", "h2", "h3", "h4", "h5", "field")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `pytest -k h1` means "H1's cells": many other tests mention h1/h2 in their names
    # (h1_request, h2c...), so a bare hypothesis keyword is narrowed to its marker.
    keyword = (config.option.keyword or "").strip()
    if keyword in HYPOTHESIS_KEYWORDS:
        keep = [i for i in items if i.get_closest_marker(keyword) is not None]
        drop = [i for i in items if i.get_closest_marker(keyword) is None]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    if NETNS_SKIP:
        skip = pytest.mark.skip(reason=NETNS_SKIP)
        for item in items:
            if "netns" in item.keywords:
                item.add_marker(skip)
    # kernel-backend tests stay in the run, reported as skipped with the reason, where the
    # running kernel has no sch_netem (`python -m netem vm -- ...` runs them in a VM)
    kernel = [i for i in items if "kernel_netem" in i.keywords]
    if not kernel:
        return
    from netem.shaping import kernel_netem_missing

    missing = NETNS_SKIP or kernel_netem_missing()  # (namespaces' skip, above, says why if theirs)
    if missing and in_netem_vm():
        # the VM exists to run them: a guest that cannot (no namespaces, sch_netem not loadable)
        # fails the run -- `.ci/run`'s VM step would otherwise pass with every test skipped
        raise pytest.UsageError(f"inside `netem vm` the kernel_netem tests cannot run: {missing}")
    if missing and not NETNS_SKIP:
        skip = pytest.mark.skip(reason=f"{missing}: run `python -m netem vm -- python -m pytest -m kernel_netem`")
        for item in kernel:
            item.add_marker(skip)


def backend_params() -> list:
    """Both backends for a parametrized test; the kernel one marked kernel_netem (skipped with
    the reason where this kernel has no sch_netem, never dropped from the run)."""
    return ["userspace", pytest.param("kernel", marks=pytest.mark.kernel_netem)]


def in_netem_vm() -> bool:
    """Inside `python -m netem vm` (it sets RESETLAB_VM_ACCEL in the guest)."""
    return os.environ.get("RESETLAB_VM_ACCEL") in ("kvm", "tcg")


def under_emulation() -> bool:
    """Inside `python -m netem vm` without KVM: timers and throughput are coarse, so tests
    check what holds there (delay >= configured, counts in binomial bounds), not fidelity."""
    return os.environ.get("RESETLAB_VM_ACCEL") == "tcg"


@pytest.fixture(scope="session")
def world_runner():
    """world_runner(world, backend="auto") -> a RunningWorld, built once per worker, world and
    backend, kept for the session."""
    from harness.lab.runtime import RunningWorld

    running: dict[tuple[str, str], RunningWorld] = {}

    def get(world, backend: str = "auto") -> RunningWorld:
        key = (world.to_json(), backend)
        if key not in running:
            running[key] = RunningWorld(world, backend).__enter__()
        return running[key]

    yield get
    for rw in running.values():
        rw.__exit__(None, None, None)


@pytest.fixture
def make_topology():
    """make_topology(spec, backend=...) -> a started Topology, closed after the test."""
    from netem.topology import Topology

    opened: list[Topology] = []

    def make(spec, backend: str = "userspace") -> Topology:
        topo = Topology(spec, backend=backend)
        topo.__enter__()
        opened.append(topo)
        return topo

    yield make
    for topo in reversed(opened):
        topo.close()


# -- the falsification table for what ran ---------------------------------------------------

_MATRIX: dict[str, list[tuple[str, bool, str]]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return
    hyp = next((k for k in HYPOTHESIS_KEYWORDS if k in report.keywords and "matrix" in report.keywords), None)
    if hyp is None:
        return
    why = ""
    if report.failed:
        text = str(report.longrepr).strip().splitlines()
        why = next((line for line in reversed(text) if "AssertionError" in line or "Error" in line), text[-1])
    cell = report.nodeid.split("[", 1)[-1].rstrip("]")
    _MATRIX.setdefault(hyp, []).append((cell, report.passed, why))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _MATRIX:
        return
    tr = terminalreporter
    tr.section("falsification table (matrix cells: each asserts its world's prediction)")
    tr.write_line(f"{'hypothesis':<11}{'cells':>6}{'as predicted':>14}  verdict")
    for hyp in HYPOTHESIS_KEYWORDS:
        rows = _MATRIX.get(hyp)
        if not rows:
            continue
        good = sum(1 for _, ok, _ in rows if ok)
        verdict = "consistent" if good == len(rows) else "falsified"
        tr.write_line(f"{hyp:<11}{len(rows):>6}{good:>14}  {verdict}")
        for cell, ok, why in rows:
            if not ok:
                tr.write_line(f"{'':<11}  {cell}: {why[:150]}")
    run = os.environ.get("RESETLAB_RUN_ID")
    if run:
        tr.write_line(f"records: {os.environ.get('RESETLAB_RESULTS', 'results')}/{run}/probes.jsonl")
