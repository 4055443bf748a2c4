"""The factors the engine varies, their ladders, and how a level becomes a probe.

Every level is in the target's own units: field seconds for a lab world (its compile step
scales them), real seconds for a base URL. Ladders are geometric and start well below any
plausible limit, so the engine never assumes a target's time scale: the boundary is found,
not placed.

    factor           varied                          probe at level L
    size             request body bytes              L bytes, a short stream
    duration         stream seconds                  a small request streaming L s
    size_x_duration  stream seconds at a big size    the biggest size that passed, streaming L s
    idle_gap         one mid-stream silence          a short stream silent for L s after event 3
    think_time       idle of a pooled connection     2nd request on an HTTP/1.1 connection idle L s
    read_pace        seconds to drain one window     h2c, a 4 KB window read at 4096/L bytes/s

Treatments (applied at the failing levels of a ladder): keepalive (TCP keepalive well below
the boundary), protocol (the other one of HTTP/1.1 and h2c), canary (an idle second connection
beside each probe). Heartbeats: tiny fresh requests all through the run (does the path itself
go down when probes fail?).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from harness.worlds.model import ProbeSpec

FACTORS = ("size", "duration", "size_x_duration", "idle_gap", "think_time", "read_pace")
TIME_FACTORS = ("duration", "size_x_duration", "idle_gap", "think_time", "read_pace")
TREATMENTS = ("keepalive", "protocol", "canary")
UNITS = {"size": "bytes", "duration": "s", "size_x_duration": "s", "idle_gap": "s", "think_time": "s",
         "read_pace": "s"}
WINDOW = 4096  # our HTTP/2 stream window on the read-pace ladder (bytes)
PACE_STREAM = 16.0  # stream seconds of a read-pace probe: ~64 events, ~10 KB, several windows
SIZES = (16_000, 128_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000, 32_000_000)
SMALL = 16_000  # the request size of every ladder that is not about size
HEARTBEAT_SIZE = 1024


@dataclass(frozen=True)
class Ranges:
    """A target's ladder ranges, in its units. `short` is the base stream: short enough to be
    under any budget worth finding, long enough to be a stream."""

    short: float
    t_min: float
    t_max: float
    size_max: int = SIZES[-1]
    watchdog: float = 30.0  # the client's stream watchdog (a client property, target seconds)
    small: int = SMALL  # the request size of every ladder that is not about size
    pace_max: float | None = None  # top of the read-pace ladder (default t_max)

    def time_levels(self) -> list[float]:
        n = max(1, math.ceil(math.log2(self.t_max / self.t_min)))
        return [self.t_min * 2**k for k in range(n + 1)]

    def pace_levels(self) -> list[float]:
        # a window drains in far less than a stream lasts: start 16x lower; a read-pace probe
        # reads ~3 windows, so it lasts ~3x its level: its own top, `pace_max`
        top = self.pace_max or self.t_max
        return [lv for lv in (self.t_min / 16 * 2**k for k in range(64)) if lv <= top * 1.0001]

    def size_levels(self) -> list[int]:
        return sorted({self.small, *(s for s in SIZES if s <= self.size_max)})


# field seconds: budgets from seconds to a quarter hour. A read-pace probe reads ~3 windows, so
# its top is half the others' (as EXTERNAL's): 512 s per window lasts ~1500 s and finds stall
# limits up to ~250 s (a window drains at ~2x the limit); at 1024 it lasted ~3000 s, the
# longest probe of every lab search (h3: 122 of the 130 real s its first stage took)
LAB = Ranges(short=4.0, t_min=8.0, t_max=1024.0, pace_max=512.0)
# a real API bills input tokens: the ladders that are not about size send 2 KB
EXTERNAL = Ranges(short=0.5, t_min=0.5, t_max=64.0, size_max=32_000_000, watchdog=5.0, small=2_000, pace_max=32.0)


def base(r: Ranges) -> ProbeSpec:
    return ProbeSpec(size=r.small, duration=r.short)


def spec_for(factor: str, level: float, r: Ranges, big_size: int = SIZES[-1]) -> ProbeSpec:
    b = base(r)
    if factor == "size":
        return replace(b, size=int(level))
    if factor == "duration":
        return replace(b, duration=level)
    if factor == "size_x_duration":
        return replace(b, size=big_size, duration=level)
    if factor == "idle_gap":
        # our own watchdog must outlast the silence we asked for
        return replace(b, longest_idle=level, idle_timeout=r.watchdog + level)
    if factor == "think_time":
        return replace(b, think_time=level)
    if factor == "read_pace":
        # a response several windows long (PACE_STREAM s of events), so the window fills
        return replace(b, duration=PACE_STREAM, protocol="h2c", h2_window=WINDOW, read_pace=WINDOW / level)
    raise ValueError(f"factor: got {factor!r}; allowed one of {', '.join(FACTORS)}")


def treat(spec: ProbeSpec, treatment: str, keepalive: float) -> ProbeSpec:
    if treatment == "keepalive":
        return replace(spec, keepalive=keepalive)
    if treatment == "canary":
        return replace(spec, canary=True)
    if treatment == "protocol":
        if spec.protocol == "h2c":
            return replace(spec, protocol="http1", h2_window=None)
        return replace(spec, protocol="h2c")
    raise ValueError(f"treatment: got {treatment!r}; allowed one of {', '.join(TREATMENTS)}")


def heartbeat(r: Ranges) -> ProbeSpec:
    # tiny, fresh, a stream of a few events: under any budget; its watchdog half the client's,
    # so an outage long enough to kill a probe also kills a heartbeat started in its first half.
    # Connecting and waiting for headers get the whole watchdog, as a stream's silence does (a
    # blackhole shorter than TCP's SYN retries otherwise only delays a heartbeat while it kills
    # every stream it silences; half of it would fail heartbeats queued behind bulk uploads on
    # a loaded link: time to headers up to 4.9 s was seen on this lab's busy 2 cores)
    return ProbeSpec(size=HEARTBEAT_SIZE, duration=0.0, idle_timeout=r.watchdog / 2, headers_timeout=r.watchdog)
