"""Passive taps: who sent the RST?

An AF_PACKET socket on every veth of every host (inside its namespace, so nothing is
captured in the host namespace) with a classic BPF filter that passes only TCP segments
carrying FIN or RST, so bulk traffic never reaches Python. Each segment is recorded with
its host, interface, direction (in/out), addresses, ports, sequence number and flags.

Attribution: a segment keeps its TCP sequence number across routers and NAT (which
rewrite addresses and ports only). The host that *emitted* a RST is the one where that
sequence number leaves (out) without having arrived (in) first; routers show it both
ways. So `emitter(rst)` works through NAT and edges alike.

Flows (`Tap(topo, flows=("client",))`): on those hosts every TCP segment is captured with
its payload (a second BPF program, `tcp`), so `tap.flows("client")` rebuilds each TCP
connection that host opened during the capture: both byte streams (by sequence offset from
the SYN / SYN-ACK, retransmissions counted, not duplicated), when each byte arrived, and
every FIN / RST with the bytes up and down at that moment. What those bytes mean (HTTP,
HTTP/2 frames, SSE) is the harness's business (`harness.wire`), not the network layer's.
Frames the kernel dropped before we read them are counted (`tap.drops`): a flow with a hole
in it says so (`Flow.complete`).
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
SO_RCVBUFFORCE = 33
SOL_PACKET, PACKET_STATISTICS = 263, 6
PACKET_OUTGOING = 4
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
FLOW_RCVBUF = 64 * 1024 * 1024  # a whole 8 MB upload's frames queue here while Python catches up
FRAME_MAX = 14 + 65535 + 64  # a GSO super-packet is at most one IPv4 datagram

# tcpdump -dd 'tcp[13] & 5 != 0' (IPv4, not a fragment, FIN or RST set)
_BPF = [
    (0x28, 0, 0, 0x0000000C), (0x15, 0, 8, 0x00000800), (0x30, 0, 0, 0x00000017),
    (0x15, 0, 6, 0x00000006), (0x28, 0, 0, 0x00000014), (0x45, 4, 0, 0x00001FFF),
    (0xB1, 0, 0, 0x0000000E), (0x50, 0, 0, 0x0000001B), (0x45, 0, 1, 0x00000005),
    (0x06, 0, 0, 0x00040000), (0x06, 0, 0, 0x00000000),
]
# 'ip and tcp' (whole frames): the flow capture
_BPF_TCP = [
    (0x28, 0, 0, 0x0000000C), (0x15, 0, 3, 0x00000800), (0x30, 0, 0, 0x00000017),
    (0x15, 0, 1, 0x00000006), (0x06, 0, 0, 0x00040000), (0x06, 0, 0, 0x00000000),
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
    ack: int = 0
    length: int = 0  # TCP payload bytes (from the IP header: a truncated frame still counts)
    payload: bytes = b""  # flow hosts only

    @property
    def syn(self) -> bool:
        return bool(self.flags & SYN)

    @property
    def rst(self) -> bool:
        return bool(self.flags & RST)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FIN)


def _attach_filter(sock: socket.socket, bpf: list[tuple[int, int, int, int]] = _BPF) -> ctypes.Array:
    prog = b"".join(struct.pack("HBBI", *ins) for ins in bpf)
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HL", len(bpf), ctypes.addressof(buf))
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


def parse_full(frame: bytes) -> tuple[str, int, str, int, int, int, int, int, bytes] | None:
    """parse() plus (ack, payload length, payload as captured)."""
    head = parse(frame)
    if head is None:
        return None
    ihl = (frame[14] & 0x0F) * 4
    tcp = 14 + ihl
    total = struct.unpack_from("!H", frame, 16)[0]
    (ack,) = struct.unpack_from("!I", frame, tcp + 8)
    doff = (frame[tcp + 12] >> 4) * 4
    length = max(0, total - ihl - doff)
    return (*head, ack, length, bytes(frame[tcp + doff:tcp + doff + length]))


class Tap:
    """Capture FIN/RST segments on every world interface while the context is open."""

    def __init__(self, topo: Topology, hosts: list[str] | None = None, flows: tuple[str, ...] = ()):
        self.topo = topo
        self.hosts = hosts or list(topo.hosts)
        self.flow_hosts = tuple(flows)
        self.segments: list[Segment] = []  # FIN/RST on every host; everything on flow hosts
        self.drops = 0  # frames the kernel dropped on a flow socket (reader too slow)
        self._socks: dict[int, tuple[socket.socket, str, str, bool]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _open(self, host: str, ifname: str, full: bool = False) -> socket.socket:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            _attach_filter(s, _BPF_TCP if full else _BPF)
            if full:
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, FLOW_RCVBUF)
            s.bind((ifname, ETH_P_ALL))
            s.setblocking(False)
            return s

        return self.topo.hosts[host].call(make)

    def __enter__(self) -> Tap:
        for itf in self.topo.spec.interfaces():
            if itf.host in self.hosts or itf.host in self.flow_hosts:
                ifname = names.ifname(self.topo.run_id, itf.tag)
                full = itf.host in self.flow_hosts
                s = self._open(itf.host, ifname, full)
                self._socks[s.fileno()] = (s, itf.host, ifname, full)
        self._thread = threading.Thread(target=self._run, name="tap", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        fds = list(self._socks)
        while not self._stop.is_set():
            ready, _, _ = select.select(fds, [], [], 0.05)
            for fd in ready:
                self._drain(*self._socks[fd])

    def _drain(self, s: socket.socket, host: str, ifname: str, full: bool) -> None:
        while True:
            try:
                frame, addr = s.recvfrom(FRAME_MAX if full else 256)
            except BlockingIOError:
                return
            except OSError:  # ENETDOWN while an outage holds the link down: the socket lives on
                return
            now = time.monotonic()
            direction = "out" if addr[2] == PACKET_OUTGOING else "in"
            if full:
                fields = parse_full(frame)
                if fields is None:
                    continue
                src, sport, dst, dport, seq, flags, ack, length, payload = fields
                seg = Segment(now, host, ifname, direction, src, sport, dst, dport, seq, flags, ack, length,
                              payload)
            else:
                fields = parse(frame)
                if fields is None:
                    continue
                seg = Segment(now, host, ifname, direction, *fields)
            with self._lock:
                self.segments.append(seg)

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.05)  # segments in flight at the end still count
        self._stop.set()
        if self._thread:
            self._thread.join()
        for s, host, ifname, full in self._socks.values():
            if full:
                self._drain(s, host, ifname, full)
                packets, drops = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
                self.drops += drops
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

    # -- flows (hosts captured whole) --------------------------------------------------------

    def flows(self, host: str) -> list[Flow]:
        """The TCP connections `host` opened during the capture (its SYN seen), by start time."""
        if host not in self.flow_hosts:
            raise ValueError(f"Tap.flows: host {host!r} was not captured whole (flows={self.flow_hosts})")
        with self._lock:
            segs = [s for s in self.segments if s.host == host]
        by_key: dict[tuple[str, int, str, int], Flow] = {}
        for s in segs:
            if s.direction == "out":
                key = (s.src, s.sport, s.dst, s.dport)
            else:
                key = (s.dst, s.dport, s.src, s.sport)
            if s.direction == "out" and s.syn and not s.flags & ACK:
                by_key[key] = Flow(key, s.t, s.seq, host)  # a new connection (a reused port restarts it)
            flow = by_key.get(key)
            if flow is not None:
                flow.add(s)
        return sorted(by_key.values(), key=lambda f: f.t_syn)


class Stream:
    """One direction of a flow: bytes placed by offset from the ISN, and when each arrived."""

    def __init__(self, isn: int):
        self.isn = isn
        self.chunks: dict[int, bytes] = {}
        self.arrivals: list[tuple[float, int, int]] = []  # (t, offset, end) of new bytes
        self.high = 0  # highest offset + 1 seen so far (bytes sent, as far as the wire shows)
        self.retransmits = 0  # segments whose bytes had all been seen before

    def offset(self, seq: int) -> int:
        return (seq - self.isn - 1) % 2**32

    def add(self, t: float, seq: int, length: int, payload: bytes) -> None:
        if not length:
            return
        off = self.offset(seq)
        end = off + length
        if end <= self.high:
            self.retransmits += 1
        else:
            self.arrivals.append((t, max(off, self.high), end))
            self.high = end
        if payload and off not in self.chunks:
            self.chunks[off] = payload

    def data(self) -> bytes:
        """The contiguous bytes from offset 0 (up to the first hole)."""
        out, pos = bytearray(), 0
        for off in sorted(self.chunks):
            chunk = self.chunks[off]
            if off > pos:
                break
            if off + len(chunk) > pos:
                out += chunk[pos - off:]
                pos = off + len(chunk)
        return bytes(out)

    def time_at(self, offset: int) -> float | None:
        """When byte `offset` first crossed the interface (None: never)."""
        for t, _, end in self.arrivals:
            if end > offset:
                return t
        return None

    def bytes_at(self, t: float) -> int:
        """Bytes that had crossed by time t."""
        return max((end for ts, _, end in self.arrivals if ts <= t), default=0)


@dataclass
class Close:
    """A FIN or RST on a flow: who sent it (up = the flow's host, down = its peer), when,
    and the bytes each way that had crossed the interface at that moment."""

    t: float
    direction: str  # up | down
    kind: str  # rst | fin
    bytes_up: int
    bytes_down: int


class Flow:
    """One TCP connection as its client host's interface saw it."""

    def __init__(self, key: tuple[str, int, str, int], t_syn: float, isn: int, host: str = ""):
        self.key = key
        self.host = host
        self.t_syn = t_syn
        self.up = Stream(isn)
        self.down: Stream | None = None  # known from the SYN-ACK
        self.t_established: float | None = None
        self.closes: list[Close] = []
        self.arrivals: list[float] = []  # every segment from the peer (for silences)
        self.sent: list[float] = []  # every segment from the host

    @property
    def peer(self) -> tuple[str, int]:
        return self.key[2], self.key[3]

    def add(self, s: Segment) -> None:
        up = s.direction == "out"
        (self.sent if up else self.arrivals).append(s.t)
        if not up and s.syn and s.flags & ACK and self.down is None:
            self.down, self.t_established = Stream(s.seq), s.t
        if up:
            self.up.add(s.t, s.seq, s.length, s.payload)
        elif self.down is not None:
            self.down.add(s.t, s.seq, s.length, s.payload)
        if s.rst or s.fin:
            self.closes.append(Close(s.t, "up" if up else "down", "rst" if s.rst else "fin",
                                     self.up.high, self.down.high if self.down else 0))

    @property
    def refused(self) -> bool:
        """RST answered our SYN: nothing listened (or a middlebox refused)."""
        return self.down is None and any(c.direction == "down" and c.kind == "rst" for c in self.closes)

    def first_close(self, direction: str | None = None, after: float = 0.0) -> Close | None:
        for c in self.closes:
            if c.t >= after and (direction is None or c.direction == direction):
                return c
        return None

    def longest_silence(self, start: float, end: float) -> float:
        """Longest stretch in [start, end] with nothing arriving from the peer."""
        ts = [start] + [t for t in self.arrivals if start < t < end] + [end]
        return max((b - a for a, b in zip(ts, ts[1:], strict=False)), default=0.0)
