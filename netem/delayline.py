"""The userspace delay line: a process inside a router namespace that owns TUN devices.

Each channel is one direction of one link. Policy routing in the router sends that
direction's packets into the channel's TUN device; this process holds each packet until
its release time (delay, jitter), drops it by the loss model, and writes it back into the
same device, where the router forwards it on. TUN with IFF_VNET_HDR + TUNSETOFFLOAD keeps
GSO super-packets whole (that is what makes >1 Gbit/s possible in Python); when a channel
has loss we leave offloads off so the kernel segments first and loss is per packet.

Timing: select() (epoll rounds its timeout to whole milliseconds); a timer wakes ~0.15 ms
late on this machine, which is the floor of the delay error.

Run: python -m netem.delayline CONFIG_JSON  -> prints "ready" once every device exists;
SIGTERM ends it and prints one JSON line of per-channel counters.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import select
import signal
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from .profile import GilbertElliott, LinkProfile

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN = 0x01, 0x02, 0x04, 0x08
READ_SIZE = 65536 + 64  # a GSO super-packet plus the virtio-net header
READ_BURST = 64  # packets read from one device before releasing due ones


class LossModel:
    """Per-packet drop decision from a seeded RNG (independent or Gilbert-Elliott)."""

    def __init__(self, profile: LinkProfile, rng: random.Random):
        self.rng = rng
        self.p_loss = profile.loss_pct / 100.0
        self.ge: GilbertElliott | None = profile.gilbert_elliott
        self.bad = False

    def drop(self) -> bool:
        if self.ge is not None:
            ge = self.ge
            # transition first, then lose according to the state we are in (as netem does)
            if self.bad:
                if self.rng.random() * 100 < ge.r:
                    self.bad = False
            elif self.rng.random() * 100 < ge.p:
                self.bad = True
            return self.rng.random() * 100 < (ge.h_loss if self.bad else ge.k_loss)
        return self.p_loss > 0 and self.rng.random() < self.p_loss


@dataclass
class Channel:
    ifname: str
    profile: LinkProfile
    index: int
    fd: int = -1
    queue: deque = field(default_factory=deque)
    last_release: float = 0.0
    received: int = 0
    sent: int = 0
    lost: int = 0
    overflow: int = 0

    def __post_init__(self) -> None:
        # distinct but repeatable streams per channel
        self.rng = random.Random((self.profile.seed << 16) ^ self.index)
        self.loss = LossModel(self.profile, self.rng)
        self.delay = self.profile.delay_ms / 1000.0
        self.jitter = self.profile.jitter_ms / 1000.0

    def open(self) -> None:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        ifr = struct.pack("16sH", self.ifname.encode(), IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
        if not self.profile.has_loss:
            fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
        self.fd = fd

    def release_time(self, now: float) -> float:
        t = now + self.delay
        if self.jitter:
            t += self.rng.uniform(-self.jitter, self.jitter)
        # keep FIFO order: jitter never reorders packets of a channel
        t = max(t, self.last_release)
        self.last_release = t
        return t

    def read_some(self, now: float) -> None:
        q = self.queue
        for _ in range(READ_BURST):
            try:
                pkt = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return
            self.received += 1
            if self.loss.drop():
                self.lost += 1
            elif len(q) >= self.profile.limit_packets:
                self.overflow += 1
            else:
                q.append((self.release_time(now), pkt))

    def release_due(self, now: float) -> None:
        q = self.queue
        while q and q[0][0] <= now:
            _, pkt = q.popleft()
            try:
                os.write(self.fd, pkt)
                self.sent += 1
            except BlockingIOError:
                self.overflow += 1

    def counters(self) -> dict:
        return {"ifname": self.ifname, "received": self.received, "sent": self.sent,
                "lost": self.lost, "overflow": self.overflow, "queued": len(self.queue)}


def run(channels: list[Channel]) -> None:
    for ch in channels:
        ch.open()
    by_fd = {ch.fd: ch for ch in channels}
    fds = list(by_fd)

    def on_term(signum, frame):
        # raising (not setting a flag) is what interrupts a select() that PEP 475 would retry
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print("ready", flush=True)
    try:
        _loop(channels, by_fd, fds)
    except _Stop:
        pass
    print(json.dumps({"channels": [ch.counters() for ch in channels]}), flush=True)


class _Stop(Exception):
    pass


def _loop(channels: list[Channel], by_fd: dict[int, Channel], fds: list[int]) -> None:
    clock = time.monotonic
    while True:
        now = clock()
        due = min((ch.queue[0][0] for ch in channels if ch.queue), default=None)
        timeout = 0.5 if due is None else max(0.0, due - now)
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            continue
        now = clock()
        for fd in readable:
            by_fd[fd].read_some(now)
        for ch in channels:
            ch.release_due(now)


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[0])
    channels = [Channel(c["ifname"], LinkProfile.from_dict(c["profile"]), i)
                for i, c in enumerate(cfg["channels"])]
    run(channels)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
