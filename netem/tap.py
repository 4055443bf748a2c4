"""Passive taps: who sent the RST?

An AF_PACKET socket on every veth of every host (inside its namespace, so nothing is
captured in the host namespace) with a classic BPF filter that passes only TCP segments
carrying FIN or RST, so bulk traffic never reaches Python. Each segment is recorded with
its host, interface, direction (in/out), addresses, ports, sequence number and flags.

Attribution: a segment keeps its TCP sequence number across routers and NAT (which
rewrite addresses and ports only). The host that *emitted* a RST is the one where that
sequence number leaves (out) without having arrived (in) first; routers show it both
ways. So `emitter(rst)` works through NAT and edges alike.
"""

from __future__ import annotations

import ctypes
import ipaddress
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import names

if TYPE_CHECKING:
    from .topology import Topology

ETH_P_ALL = 0x0003  # outgoing frames reach only ETH_P_ALL packet sockets
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
FIN, RST = 0x01, 0x04

# tcpdump -dd 'tcp[13] & 5 != 0' (IPv4, not a fragment, FIN or RST set)
_BPF = [
    (0x28, 0, 0, 0x0000000C), (0x15, 0, 8, 0x00000800), (0x30, 0, 0, 0x00000017),
    (0x15, 0, 6, 0x00000006), (0x28, 0, 0, 0x00000014), (0x45, 4, 0, 0x00001FFF),
    (0xB1, 0, 0, 0x0000000E), (0x50, 0, 0, 0x0000001B), (0x45, 0, 1, 0x00000005),
    (0x06, 0, 0, 0x00040000), (0x06, 0, 0, 0x00000000),
]


@dataclass(frozen=True)
class Segment:
    t: float  # time.monotonic() at capture
    host: str
    ifname: str
    direction: str  # "in" | "out"
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    flags: int

    @property
    def rst(self) -> bool:
        return bool(self.flags & RST)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FIN)


def _attach_filter(sock: socket.socket) -> ctypes.Array:
    prog = b"".join(struct.pack("HBBI", *ins) for ins in _BPF)
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HL", len(_BPF), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # the kernel copies the program; keep the buffer alive until then anyway


def parse(frame: bytes) -> tuple[str, int, str, int, int, int] | None:
    """(src, sport, dst, dport, seq, flags) of an Ethernet/IPv4/TCP frame."""
    if len(frame) < 14 + 20 + 20 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] != 6:
        return None
    src = str(ipaddress.IPv4Address(frame[26:30]))
    dst = str(ipaddress.IPv4Address(frame[30:34]))
    tcp = 14 + ihl
    sport, dport, seq = struct.unpack_from("!HHI", frame, tcp)
    return src, sport, dst, dport, seq, frame[tcp + 13]


class Tap:
    """Capture FIN/RST segments on every world interface while the context is open."""

    def __init__(self, topo: Topology, hosts: list[str] | None = None):
        self.topo = topo
        self.hosts = hosts or list(topo.hosts)
        self.segments: list[Segment] = []
        self._socks: dict[int, tuple[socket.socket, str, str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _open(self, host: str, ifname: str) -> socket.socket:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            _attach_filter(s)
            s.bind((ifname, ETH_P_ALL))
            s.setblocking(False)
            return s

        return self.topo.hosts[host].call(make)

    def __enter__(self) -> Tap:
        for itf in self.topo.spec.interfaces():
            if itf.host in self.hosts:
                ifname = names.ifname(self.topo.run_id, itf.tag)
                s = self._open(itf.host, ifname)
                self._socks[s.fileno()] = (s, itf.host, ifname)
        self._thread = threading.Thread(target=self._run, name="tap", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        fds = list(self._socks)
        while not self._stop.is_set():
            ready, _, _ = select.select(fds, [], [], 0.05)
            for fd in ready:
                self._drain(*self._socks[fd])

    def _drain(self, s: socket.socket, host: str, ifname: str) -> None:
        while True:
            try:
                frame, addr = s.recvfrom(256)
            except BlockingIOError:
                return
            now = time.monotonic()
            fields = parse(frame)
            if fields is None:
                continue
            direction = "out" if addr[2] == PACKET_OUTGOING else "in"
            with self._lock:
                self.segments.append(Segment(now, host, ifname, direction, *fields))

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.05)  # segments in flight at the end still count
        self._stop.set()
        if self._thread:
            self._thread.join()
        for s, _, _ in self._socks.values():
            s.close()
        self._socks.clear()

    # -- attribution -----------------------------------------------------------------------

    def rsts(self) -> list[Segment]:
        with self._lock:
            return [s for s in self.segments if s.rst]

    def emitter(self, rst: Segment) -> str | None:
        """The host that sent this RST first: out, and never in, with the same seq and flags."""
        same = [s for s in self.rsts() if s.seq == rst.seq and s.flags == rst.flags]
        arrived = {s.host for s in same if s.direction == "in"}
        senders = [s for s in same if s.direction == "out" and s.host not in arrived]
        return min(senders, key=lambda s: s.t).host if senders else None

    def who_reset(self, host: str, addr: str | None = None, port: int | None = None) -> str | None:
        """Which host emitted the first RST that reached `host` (optionally its addr:port).

        If none reached it but `host` itself sent one, `host` (its own kernel) is named.
        """
        rsts = self.rsts()
        arriving = [s for s in rsts if s.host == host and s.direction == "in"
                    and (addr is None or s.dst == addr) and (port is None or s.dport == port)]
        if arriving:
            return self.emitter(min(arriving, key=lambda s: s.t))
        own = [s for s in rsts if s.host == host and s.direction == "out"
               and (addr is None or s.src == addr) and (port is None or s.sport == port)]
        return host if own else None
