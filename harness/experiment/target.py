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

from harness.worlds.compile import lab_stream
from harness.worlds.model import ProbeSpec, World

from .factors import EXTERNAL, LAB, Ranges

# USD per million tokens (input, output), for the cost of probes against a real API
PRICES = {"haiku": (1.0, 5.0), "sonnet": (3.0, 15.0), "opus": (15.0, 75.0)}
TOKENS_PER_S = 60  # output tokens a stream of one second asks for (max_tokens)
CONTEXT_BYTES = 800_000  # ~200k tokens: a bigger body is read whole and rejected (no tokens billed)


class LabTarget:
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
    def __init__(self, base_url: str, api_key_env: str | None, model: str = "claude-sonnet-4-5",
                 ca_path: str | None = None, max_cost_usd: float = 5.0, ranges: Ranges = EXTERNAL):
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

    # -- cost -------------------------------------------------------------------------------

    def cost(self, spec: ProbeSpec) -> float:
        price = next((v for k, v in PRICES.items() if k in self.model), PRICES["opus"])
        tokens_in = spec.size / 4 if spec.size <= CONTEXT_BYTES else 0
        return (tokens_in * price[0] + self.max_tokens(spec) * price[1]) / 1e6

    def affordable(self, spec: ProbeSpec) -> bool:
        c = self.cost(spec)
        with self._lock:
            if self.spent + c > self.max_cost:
                self.refused += 1
                return False
            self.spent += c
            return True

    @staticmethod
    def max_tokens(spec: ProbeSpec) -> int:
        return max(16, min(32_000, math.ceil((spec.duration + spec.longest_idle) * TOKENS_PER_S)))

    # -- probing ----------------------------------------------------------------------------

    def client_probe(self, spec: ProbeSpec):
        from harness.clients.probe import Probe

        protocol = "http1"
        if spec.protocol == "h2c":
            protocol = "h2" if self.tls else "h2c"
        watchdog = spec.idle_timeout or self.ranges.watchdog
        extra = {"idle_timeout": watchdog, "seed": spec.seed}
        if spec.think_time:
            extra["think_time"] = spec.think_time
        return Probe(base_url=self.base_url, size=spec.size, stream=spec.stream, protocol=protocol,
                     keepalive=None if spec.keepalive is None else max(1, math.ceil(spec.keepalive)),
                     read_pace=spec.read_pace, canary=spec.canary, h2_window=spec.h2_window,
                     ca_path=self.ca_path, model=self.model, max_tokens=self.max_tokens(spec),
                     api_key_env=self.api_key_env or "RESETLAB_NO_KEY",
                     timeout=4 * (spec.duration + spec.longest_idle) + watchdog + 5 + spec.size / 2e6,
                     lab_stream=lab_stream(spec, 1.0), extra=extra)

    def probe(self, spec: ProbeSpec) -> dict:
        from harness.clients.registry import runner

        rec = runner("raw")(self.client_probe(spec)).to_dict()
        asked = spec.to_dict()
        rec["probe"] = {**rec["probe"], **{k: v for k, v in asked.items() if k != "canary"},
                        "canary": rec["probe"].get("canary", spec.canary)}
        return rec
