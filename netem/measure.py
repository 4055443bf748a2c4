"""Measurements across a running topology: one-way delay, loss, bulk TCP throughput.

All hosts share CLOCK_MONOTONIC (namespaces do not change clocks), so a UDP datagram
that carries its send time gives the one-way delay directly. Throughput uses two child
processes (sender, receiver) so the GIL of the test process is not the bottleneck.

Used by the tests and by `python -m netem bench`.
"""

from __future__ import annotations

import json
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .topology import Topology

PROBE = struct.Struct("!IQ")  # sequence number, send time (ns, monotonic)
WARMUP_SEQ = 0xFFFFFFFF  # a datagram that warms the path (ARP at each hop), never counted
WARMUP_S = 10.0  # at most this long: a path that delivers nothing is measured as it is


@dataclass
class DelaySample:
    sent: int
    received: list[tuple[int, float]]  # (seq, one-way delay ms)
    # datagrams the kernel counted as dropped outside the shaped link while this sample ran
    # (socket buffers, IP discards in every host, per-CPU backlogs): see drop_counters
    dropped_elsewhere: int = 0

    @property
    def delays(self) -> list[float]:
        return [d for _, d in self.received]

    @property
    def lost(self) -> set[int]:
        got = {s for s, _ in self.received}
        return set(range(self.sent)) - got

    def percentile(self, q: float) -> float:
        ds = sorted(self.delays)
        return ds[min(len(ds) - 1, int(q / 100 * len(ds)))]

    @property
    def median(self) -> float:
        return statistics.median(self.delays)


# Counters of drops that are not the link's: a datagram that netem passed and one of these
# dropped later looks lost to the receiver. Each host's namespace has its own /proc/net/snmp
# (read from a thread inside it); the per-CPU backlog (softnet_stat) is the kernel's own,
# shared by every namespace, so it is ours alone only in a VM that runs nothing else.
# (Udp InErrors already includes RcvbufErrors: counting both would count a drop twice.)
SNMP_DROPS = {"Ip": ("InDiscards", "OutDiscards", "OutNoRoutes"), "Udp": ("InErrors",)}


def _snmp_drops() -> int:
    with open("/proc/thread-self/net/snmp") as f:
        lines = f.read().splitlines()
    total = 0
    for head, values in zip(lines[::2], lines[1::2], strict=True):
        proto, *keys = head.split()
        row = dict(zip(keys, values.split()[1:], strict=True))
        total += sum(int(row.get(k, 0)) for k in SNMP_DROPS.get(proto.rstrip(":"), ()))
    return total


def _softnet_drops() -> int:
    with open("/proc/net/softnet_stat") as f:  # column 2: dropped for a full backlog, per CPU
        return sum(int(line.split()[1], 16) for line in f)


def drop_counters(topo: Topology, softnet: bool = False) -> int:
    """Drops the kernel counted outside the link shaping, summed over the topology's hosts."""
    total = sum(h.call(_snmp_drops) for h in topo.hosts.values())
    return total + (_softnet_drops() if softnet else 0)


SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; not exported by Python's socket module


def udp_probe(topo: Topology, src: str, dst: str, count: int, interval: float = 0.002,
              port: int = 9009, payload: int = 64, drain: float = 0.5,
              softnet: bool = False, warmup: bool = True) -> DelaySample:
    """Send `count` stamped datagrams src->dst, `interval` apart; collect what arrives.

    A sender held off the CPU does not catch up in a burst (that would measure the burst,
    and in a slow VM overflow a backlog the link never fills): after a stall the schedule
    restarts from now. `softnet`: also count the kernel's per-CPU backlog drops in
    `dropped_elsewhere` (only meaningful where nothing else runs, e.g. in `netem vm`).

    The path is warmed first (`warmup`): datagrams outside the count go until one arrives. The first
    packets of a fresh path wait for ARP at each hop, and a neighbour's queue of unresolved
    packets is short: in a TCG VM a slow resolution dropped ~170 of 3000 counted probes
    (10 % loss measured as 14.6 %, netem's own counter at 270) -- the path's set-up, not the
    link's loss.
    """
    rx = topo[dst].socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = topo[src].socket(socket.AF_INET, socket.SOCK_DGRAM)
    # room for every datagram: a receiver thread held off the CPU (a loaded machine, an
    # emulated VM) must not turn into loss that the link did not cause
    rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    rx.bind((topo[dst].address, port))
    rx.settimeout(0.05)
    received: list[tuple[int, float]] = []
    done, warm = threading.Event(), threading.Event()

    def receive() -> None:
        while True:
            try:
                data = rx.recv(2048)
            except TimeoutError:
                if done.is_set():
                    return
                continue
            now = time.monotonic_ns()
            seq, sent_ns = PROBE.unpack_from(data)
            if seq == WARMUP_SEQ:
                warm.set()
                continue
            received.append((seq, (now - sent_ns) / 1e6))

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    pad = b"\0" * max(0, payload - PROBE.size)
    dst_addr = (topo[dst].address, port)
    deadline, wait = time.monotonic() + (WARMUP_S if warmup else 0.0), 0.02
    while not warm.is_set() and time.monotonic() < deadline:
        tx.sendto(PROBE.pack(WARMUP_SEQ, time.monotonic_ns()) + pad, dst_addr)
        warm.wait(wait)
        wait = min(2 * wait, 1.0)  # a long delay line gets a few warm-up datagrams, not a flood
    drops_before = drop_counters(topo, softnet)
    next_t = time.monotonic()
    try:
        for seq in range(count):
            tx.sendto(PROBE.pack(seq, time.monotonic_ns()) + pad, dst_addr)
            next_t += interval
            pause = next_t - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                next_t = time.monotonic()
        time.sleep(drain)
    finally:
        done.set()
        t.join()
        rx.close()
        tx.close()
    return DelaySample(count, received, drop_counters(topo, softnet) - drops_before)


def tcp_throughput(topo: Topology, src: str, dst: str, seconds: float = 3.0, port: int = 9010) -> dict:
    """Bulk TCP src->dst for `seconds`; Mbit/s over the last two thirds (after slow start)."""
    sink = topo[dst].popen([sys.executable, "-m", "netem.measure", "sink", topo[dst].address, str(port),
                            str(seconds)], stdout=subprocess.PIPE, text=True)
    line = sink.stdout.readline()  # "listening"
    if "listening" not in line:
        raise RuntimeError(f"sink did not start: {line!r}")
    source = topo[src].popen([sys.executable, "-m", "netem.measure", "source", topo[dst].address, str(port),
                              str(seconds)], stdout=subprocess.PIPE, text=True)
    out, _ = sink.communicate(timeout=seconds + 30)
    source.wait(timeout=30)
    return json.loads(out)


# -- child-process ends of the throughput measurement -------------------------------------

def _sink(addr: str, port: int, seconds: float) -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    buf = bytearray(1 << 20)
    t0 = time.monotonic()
    marks = []  # (t, total bytes)
    total = 0
    while True:
        n = conn.recv_into(buf)
        if not n:
            break
        total += n
        marks.append((time.monotonic() - t0, total))
    start = seconds / 3
    first = next(((t, b) for t, b in marks if t >= start), marks[0])
    last = marks[-1]
    mbit = (last[1] - first[1]) * 8 / max(1e-9, last[0] - first[0]) / 1e6
    print(json.dumps({"bytes": total, "seconds": last[0], "mbit": mbit}), flush=True)


def _source(addr: str, port: int, seconds: float) -> None:
    s = socket.create_connection((addr, port))
    chunk = b"\0" * (1 << 20)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendall(chunk)
    s.close()


if __name__ == "__main__":
    role, addr, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    (_sink if role == "sink" else _source)(addr, port, seconds)
