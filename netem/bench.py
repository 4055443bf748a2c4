"""`python -m netem bench`: how faithful and how fast the link emulation is, as figures.

Per one-way delay setting (and backend: `--backend both` measures userspace and kernel in
one run and prints kernel/userspace ratios, what a TCG VM can compare), on a 3-host chain client - router - server whose access link
goes through the chosen backend: delay error (median, p99; idle and under bulk load),
bulk TCP throughput, the emulator's CPU, and topology setup + teardown time.
Targets on a 2-core machine (userspace): median error <= 0.5 ms, p99 <= 1 ms,
>= 1 Gbit/s bulk, setup + teardown <= 150 ms. Figures, not assertions.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from .measure import tcp_throughput, udp_probe
from .profile import LinkProfile, LinkShape
from .spec import chain
from .topology import Topology

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def bench_one(backend: str, delay_ms: float, seconds: float) -> dict:
    shape = LinkShape(LinkProfile(delay_ms=delay_ms), LinkProfile(delay_ms=delay_ms), through_emulator=True)
    spec = chain("client", "router", "server", shapes={"client-router": shape})
    t0 = time.perf_counter()
    with Topology(spec, backend=backend) as topo:
        setup_ms = (time.perf_counter() - t0) * 1000
        idle = udp_probe(topo, "client", "server", count=1000, interval=0.002)
        emu = topo.delay_lines.get("router")
        # under load: probe while a bulk transfer runs (long enough to reach steady state)
        bulk_seconds = max(seconds, 40 * 2 * delay_ms / 1000)
        result: dict = {}
        worker = threading.Thread(target=lambda: result.update(
            tcp_throughput(topo, "client", "server", seconds=bulk_seconds)))
        cpu0, w0 = (_cpu_seconds(emu.pid) if emu else 0.0), time.monotonic()
        worker.start()
        time.sleep(bulk_seconds / 2)
        loaded = udp_probe(topo, "client", "server", count=200, interval=0.005, port=9012)
        worker.join()
        cpu_pct = ((_cpu_seconds(emu.pid) - cpu0) / (time.monotonic() - w0) * 100) if emu else 0.0
        t1 = time.perf_counter()
    teardown_ms = (time.perf_counter() - t1) * 1000
    return {
        "backend": topo.backend,
        "delay_ms": delay_ms,
        "err_median_ms": round(idle.median - delay_ms, 3),
        "err_p99_ms": round(idle.percentile(99) - delay_ms, 3),
        "err_loaded_median_ms": round(loaded.median - delay_ms, 3) if loaded.received else None,
        "err_loaded_p99_ms": round(loaded.percentile(99) - delay_ms, 3) if loaded.received else None,
        "throughput_mbit": round(result.get("mbit", 0.0), 1),
        "cpu_pct": round(cpu_pct, 1),
        "setup_teardown_ms": round(setup_ms + teardown_ms, 1),
        "setup_ms": round(setup_ms, 1),
        "teardown_ms": round(teardown_ms, 1),
    }


def bench_bare_topology(repeats: int = 5) -> float:
    """Median setup + teardown of an unshaped 3-host chain, in ms."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with Topology(chain("client", "router", "server")):
            pass
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[len(times) // 2]


RATIO_KEYS = ("err_median_ms", "err_p99_ms", "err_loaded_p99_ms", "throughput_mbit", "setup_teardown_ms")


def ratios(kernel: dict, userspace: dict) -> dict:
    """kernel / userspace per figure: what a VM under emulation (TCG) can still compare,
    since there both backends pay the same slow CPU and coarse timers."""
    out = {}
    for k in RATIO_KEYS:
        a, b = kernel.get(k), userspace.get(k)
        out[k] = round(a / b, 2) if a is not None and b else None
    return out


def main(args) -> int:
    delays = [float(d) for d in args.delays.split(",") if d.strip()]
    backends = ("userspace", "kernel") if args.backend == "both" else (args.backend,)
    if "kernel" in backends:
        from .errors import ConfigError
        from .shaping import resolve_backend

        try:
            resolve_backend("kernel")
        except ConfigError as e:
            print(f"netem bench: {e}; `python -m netem vm -- python -m netem bench --backend both` runs it in a VM",
                  file=sys.stderr)
            return 2
    rows = [bench_one(b, d, args.seconds) for d in delays for b in backends]
    ratio_rows = []
    if args.backend == "both":
        for d in delays:
            by = {r["backend"]: r for r in rows if r["delay_ms"] == d}
            ratio_rows.append(dict(ratios(by["kernel"], by["userspace"]), delay_ms=d, backend="kernel/userspace"))
    bare = round(bench_bare_topology(), 1)
    accel = os.environ.get("RESETLAB_VM_ACCEL")
    if args.json:
        for r in rows + ratio_rows:
            print(json.dumps(dict(r, bare_setup_teardown_ms=bare, vm=accel)))
        return 0
    if accel:
        print(f"inside `python -m netem vm` ({accel}): " + ("emulated CPU, compare the ratios, not the figures"
                                                              if accel == "tcg" else "KVM guest"))
    print(f"{'backend':<17}{'delay':>7}{'err med':>9}{'err p99':>9}{'loaded p99':>11}"
          f"{'Mbit/s':>9}{'emu CPU%':>9}{'setup+td':>10}")
    for r in rows:
        cpu = f"{r['cpu_pct']:>9.1f}" if r["backend"] == "userspace" else f"{'kernel':>9}"
        print(f"{r['backend']:<17}{r['delay_ms']:>7.0f}{r['err_median_ms']:>9.3f}{r['err_p99_ms']:>9.3f}"
              f"{(r['err_loaded_p99_ms'] or 0):>11.3f}{r['throughput_mbit']:>9.0f}{cpu}"
              f"{r['setup_teardown_ms']:>10.1f}")
    for r in ratio_rows:
        f = lambda k, r=r: f"{r[k]:.2f}" if r[k] is not None else "-"  # noqa: E731
        print(f"{r['backend']:<17}{r['delay_ms']:>7.0f}{f('err_median_ms'):>9}{f('err_p99_ms'):>9}"
              f"{f('err_loaded_p99_ms'):>11}{f('throughput_mbit'):>9}{'':>9}{f('setup_teardown_ms'):>10}")
    print(f"bare 3-host topology setup + teardown (no delay line): {bare} ms")
    return 0
