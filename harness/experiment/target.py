"""What the engine probes: a running lab world, or a plain base URL.

A target turns a ProbeSpec (in its own units) into one record dict and says what it costs:

    LabTarget(running_world)   field seconds; the world's compile step scales them
    ExternalTarget(url, ...)   real seconds; only client-side factors: the stream's length is
                               asked for (max_tokens, and the mock's x-resetlab-stream hint,
                               which a real API ignores) and then measured: a stream that
                               came out much shorter than asked is not counted at that level

Both record the spec's factors in `probe`, and never a key: lab targets get a dummy key.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

from harness.worlds.compile import UPLOAD_FLOOR_BPS, UPLOAD_IDLE_FLOOR_S, lab_stream
from harness.worlds.model import ProbeSpec, World

from .factors import EXTERNAL, LAB, WINDOW, Ranges

# USD per million tokens (input, output), for the cost of probes against a real API
PRICES = {"haiku": (1.0, 5.0), "sonnet": (3.0, 15.0), "opus": (15.0, 75.0)}
TOKENS_PER_S = 60  # output tokens per second assumed until the base probes measure it
MAX_TOKENS = 64_000
PACE_BYTES = 3 * WINDOW  # a read-pace probe's response: three of its windows
CALIBRATION_TOKENS = 256  # 1-13 s at 20-200 tokens/s, ~4 s for a real model
MEASURABLE_S = 0.3  # a stream shorter than this is timing noise, not a rate
MAX_RATE = 5000.0
WATCHDOG_FLOOR = 5.0
CONTEXT_BYTES = 800_000  # ~200k tokens: a bigger body is read whole and rejected (no tokens billed)


class LabTarget:
    # outages are events in time (Search.soak): a run that met none streams on beside its
    # heartbeats until an hour of field time has passed -- four times the longest budget the
    # ladders look for. A drawn outage world whose outages come every ~1500 field s had met
    # none in its 90 s (1460 field s) of probes and left H3 inconclusive.
    min_run = 3600.0  # field seconds

    def __init__(self, rw, name: str | None = None):
        self.rw = rw
        w: World = rw.world
        self.name = name or f"world {w.name}"
        self.unit_s = w.time_scale
        self.ranges: Ranges = replace(LAB, watchdog=w.client_idle_timeout)
        # TCP keepalive counts whole real seconds
        self.min_keepalive = 1.0 / w.time_scale

    def affordable(self, spec: ProbeSpec) -> bool:
        return True

    def probe(self, spec: ProbeSpec) -> dict:
        return self.rw.probe(spec).to_dict()


class ExternalTarget:
    """A base URL. Only what a client controls varies: the body's size, max_tokens (a stream's
    length: calibrated on the base probes, then measured on every probe), think time on a
    pooled connection, keepalive, protocol, read pace, canaries. Mid-stream silence is not a
    client's to make, so the idle-gap ladder is skipped unless `lab_hints` (our mock's
    x-resetlab-stream header, which a real API ignores) is asked for."""

    can_silence = False
    # outages are events in time: a run shorter than this that met none goes on streaming
    # beside its heartbeats (Search.soak) until it has met one or this much time has passed
    min_run = 240.0
    free_above = CONTEXT_BYTES  # bodies bigger than this cost no input tokens

    def __init__(self, base_url: str, api_key_env: str | None, model: str = "claude-sonnet-4-5",
                 ca_path: str | None = None, max_cost_usd: float = 5.0, ranges: Ranges = EXTERNAL,
                 lab_hints: bool = False):
        self.base_url = base_url.rstrip("/")
        self.name = base_url
        self.api_key_env = api_key_env
        self.model = model
        self.ca_path = ca_path
        self.unit_s = 1.0
        self.ranges = ranges
        self.min_keepalive = 1.0
        self.max_cost = max_cost_usd
        self.spent = 0.0
        self.refused = 0
        self._lock = threading.Lock()
        self.tls = base_url.startswith("https://")
        self.lab_hints = self.can_silence = lab_hints
        self.tokens_per_s = float(TOKENS_PER_S)  # until calibrated on the base probes
        self.bytes_per_token = 40.0  # SSE bytes per output token, likewise
        self.calibration = ""

    def calibration_spec(self) -> ProbeSpec:
        """A probe asking for CALIBRATION_TOKENS: long enough (seconds, at any plausible
        token rate) for its stream time to be measured, not blurred by scheduling."""
        return ProbeSpec(size=self.ranges.small, duration=CALIBRATION_TOKENS / TOKENS_PER_S)

    def calibrate(self, records: list[dict]) -> None:
        """From the calibration probes: how fast the target writes tokens (max_tokens ->
        seconds), its response bytes per token, and our watchdog -- many times the longest
        gap between its events and its time to headers, never a fixed number."""
        done = [r for r in records if r["probe"].get("role") == "calibrate" and r.get("outcome") == "completed"]
        if not done:
            self.calibration = "no calibration probe completed: stream length and watchdog stay uncalibrated"
            return
        rates, gaps, heads, sizes = [], [], [], []
        for r in done:
            asked = r["probe"].get("max_tokens_asked") or CALIBRATION_TOKENS
            stream_s = (r.get("t_total") or 0.0) - (r.get("t_headers") or 0.0)
            sizes.append((r.get("bytes_received") or 0) / asked)
            heads.append(r.get("t_headers") or 0.0)
            if stream_s >= MEASURABLE_S:
                rates.append(asked / stream_s)
                gaps.append(stream_s / max(1, (r.get("events_received") or 1) - 1))
        notes = []
        if rates and not self.lab_hints:
            self.tokens_per_s = min(MAX_RATE, sorted(rates)[len(rates) // 2])
        elif not rates:
            notes.append("its streams come out instantly whatever max_tokens asks: stream length is not a "
                         "client's to vary here")
            self.tokens_per_s = MAX_RATE
        self.bytes_per_token = max(1.0, sorted(sizes)[len(sizes) // 2])
        gap = max(gaps) if gaps else 0.0
        # generous: a stall of a second or two is ordinary for a loaded server (or this lab's
        # 2 cores), and a watchdog that fires on it would be a failure of our own making
        watchdog = max(WATCHDOG_FLOOR, 50 * gap, 5 * max(heads))
        self.ranges = replace(self.ranges, watchdog=watchdog)
        self.calibration = "; ".join([f"calibrated on {len(done)} probes of {CALIBRATION_TOKENS} tokens: "
                                      f"{self.tokens_per_s:.0f} tokens/s, {self.bytes_per_token:.0f} response bytes "
                                      f"per token, watchdog {watchdog:.1f} s (at least {WATCHDOG_FLOOR:g} s, 50 x the "
                                      f"longest event gap {gap:.3f} s, 5 x time to headers {max(heads):.3f} s)", *notes])

    # -- cost -------------------------------------------------------------------------------

    def cost(self, spec: ProbeSpec) -> float:
        price = next((v for k, v in PRICES.items() if k in self.model), PRICES["opus"])
        tokens_in = spec.size / 4 if spec.size <= self.free_above else 0
        return (tokens_in * price[0] + self.max_tokens(spec) * price[1]) / 1e6

    def affordable(self, spec: ProbeSpec) -> bool:
        c = self.cost(spec)
        with self._lock:
            if self.spent + c > self.max_cost:
                self.refused += 1
                return False
            self.spent += c
            return True

    def max_tokens(self, spec: ProbeSpec) -> int:
        if spec.read_pace:  # a slow reader needs a response a few windows long, not a long stream
            return max(16, min(MAX_TOKENS, math.ceil(PACE_BYTES / self.bytes_per_token)))
        return max(16, min(MAX_TOKENS, math.ceil((spec.duration + spec.longest_idle) * self.tokens_per_s)))

    # -- probing ----------------------------------------------------------------------------

    def client_probe(self, spec: ProbeSpec):
        from harness.clients.probe import Probe

        protocol = "http1"
        if spec.protocol == "h2c":
            protocol = "h2" if self.tls else "h2c"
        watchdog = spec.idle_timeout or self.ranges.watchdog
        timeout = 4 * (spec.duration + spec.longest_idle) + watchdog + 5 + spec.size / UPLOAD_FLOOR_BPS
        if spec.headers_timeout is not None:  # a heartbeat: waiting longer is the path down
            timeout = spec.headers_timeout
        return Probe(base_url=self.base_url, size=spec.size, stream=spec.stream, protocol=protocol,
                     keepalive=None if spec.keepalive is None else max(1, math.ceil(spec.keepalive)),
                     read_pace=spec.read_pace, canary=spec.canary, h2_window=spec.h2_window,
                     ca_path=self.ca_path, model=self.model, max_tokens=self.max_tokens(spec),
                     api_key_env=self.api_key_env or "RESETLAB_NO_KEY",
                     timeout=timeout,
                     lab_stream=lab_stream(spec, 1.0) if self.lab_hints else None, idle_timeout=watchdog,
                     upload_idle=max(UPLOAD_IDLE_FLOOR_S, watchdog),
                     seed=spec.seed, think_time=spec.think_time or None,
                     # an overall cap far beyond every deadline above: a hang still ends
                     deadline=2 * (4 * (spec.duration + spec.longest_idle) + watchdog + 5
                                   + spec.size / UPLOAD_FLOOR_BPS + PACE_BYTES / (spec.read_pace or 1e9)
                                   + (spec.think_time or 0.0)) + 30.0)

    def probe(self, spec: ProbeSpec) -> dict:
        from harness.clients.registry import runner

        probe = self.client_probe(spec)
        rec = runner("raw")(probe).to_dict()
        rec["probe"]["max_tokens_asked"] = probe.max_tokens
        asked = spec.to_dict()
        rec["probe"] = {**rec["probe"], **{k: v for k, v in asked.items() if k != "canary"},
                        "canary": rec["probe"].get("canary", spec.canary)}
        return rec
