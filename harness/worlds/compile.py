"""The one step from field units to the lab: World -> LabPlan, ProbeSpec -> Probe.

A world and its probes are stated in field units (model.py). The lab runs them faster:
every duration times the world's `time_scale`, every rate per second divided by it, bytes
unchanged -- so every ratio that decides an outcome (a stream against a budget, a silence
against a NAT timeout, a read pace against a stall limit) is the same at any scale. Each
schema scales its own fields, tagged with their units (harness/units.py):

    EdgePolicy.scaled          edge limits                       harness/edge/policy.py
    Rule.scaled (When, Action) origin fault plan                 harness/origin/plan.py, actions.py
    StreamSpec.scaled          origin stream settings            harness/origin/sse.py
    Outages.scaled             outage windows, rates             model.py
    World, ProbeSpec           nat timeout, prefill, watchdog; probe timings, read pace

    LinkProfile.scaled         link delay and jitter             netem/profile.py

and this module only assembles the results. Link delays scale like every other duration: a
5 ms access link at time scale 0.02 is 0.1 ms in the lab (they were once left at 5 ms real,
250 field ms, and the userspace delay line that held them cost a third of a run's CPU; the
kernel backend applies 0.1 ms as asked, the userspace backend leaves a delay under its
resolution on the bare veth, ~0.02 ms: netem.shaping.USERSPACE_RESOLUTION_MS). Two lab limits
round: TCP keepalive and conntrack timeouts count whole seconds (>= 1 s), so worlds keep
margins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

from harness.clients.probe import Probe
from harness.edge.policy import EdgePolicy
from harness.origin.plan import parse_plan, plan_to_json, scale_plan
from harness.origin.sse import scale_stream_config
from harness.units import lab_values
from netem import ConntrackTimeouts, LinkShape, Nat, chain
from netem.outage import OutageSchedule

from .model import Outages, ProbeSpec, World

EVENTS_PER_SECOND = 4  # stream pacing: deltas per field second of stream (capped below)
# an SSE response is ~140 bytes per text delta plus ~1.5 KB of headers and framing events
# (measured: 5670 bytes for 40 deltas); with margin, for a paced reader's timeout
RESPONSE_BYTES_PER_DELTA, RESPONSE_BYTES = 200, 2000
LINK_LABELS = {"access": "client-nat", "backbone": "nat-edge", "dc": "edge-origin"}
OUTAGE_HORIZON = 3600.0  # real seconds of Poisson schedule generated per world run
# unit-tagged durations left in real time, with the reason (a test holds every other one scaled)
UNSCALED: dict = {}  # none today


@dataclass(frozen=True)
class LabPlan:
    """A world in lab units: what RunningWorld starts. Durations in real seconds."""

    world: World  # the field-unit source (name, edge kind, links)
    nat_timeout: float
    edge_policy: EdgePolicy
    origin_plan: list[dict]  # the origin's --plan (JSON rules)
    origin_stream: dict  # the origin's --stream
    client_idle_timeout: float
    outages: Outages

    @property
    def time_scale(self) -> float:
        return self.world.time_scale

    def seconds(self, field_seconds: float) -> float:
        """Lab seconds of a field duration (a runner's sleeps: backoff, think time)."""
        return field_seconds * self.time_scale

    def field_seconds(self, lab_seconds: float) -> float:
        """Field seconds of a lab duration (a measured time, reported in field units)."""
        return lab_seconds / self.time_scale

    def topology(self):
        """The netem chain: client -- access -- nat -- backbone -- edge -- origin."""
        w = self.world
        return chain("client", "nat", "edge", "origin",
                     shapes={"client-nat": LinkShape.symmetric(w.access.scaled(w.time_scale)),
                             "nat-edge": LinkShape.symmetric(w.backbone.scaled(w.time_scale))},
                     nat=Nat("nat", "nat-edge", ConntrackTimeouts(established=self.nat_timeout),
                             stale=w.nat_stale))

    def outage_schedule(self, horizon: float = OUTAGE_HORIZON) -> OutageSchedule | None:
        if not self.outages.active:
            return None
        return self.outages.schedule(LINK_LABELS[self.outages.link], horizon)

    def probe(self, spec: ProbeSpec, base_url: str, origin_log: str = "") -> Probe:
        return compile_probe(spec, self, base_url, origin_log)


UPLOAD_FLOOR_BPS = 0.5e6  # the slowest upload a probe's headers deadline allows for


def compile_world(world: World) -> LabPlan:
    s = world.time_scale
    lab = lab_values(world, s)  # World's own timed fields (nat_timeout, client_idle_timeout, ...)
    return LabPlan(world=world,
                   # conntrack counts whole seconds (ConntrackTimeouts rounds up): at least 1
                   nat_timeout=max(1.0, lab["nat_timeout"]),
                   edge_policy=world.edge_policy.scaled(s),
                   origin_plan=plan_to_json(scale_plan(parse_plan(list(world.origin_plan), "World.origin_plan"), s)),
                   origin_stream=origin_stream(world, lab["prefill_s_per_mb"]),
                   client_idle_timeout=lab["client_idle_timeout"],
                   outages=world.outages.scaled(s))


def origin_stream(world: World, prefill_s_per_mb: float) -> dict:
    """The origin's --stream in lab units; the world's prefill becomes headers_delay_per_mb."""
    stream = scale_stream_config(world.origin_stream, world.time_scale, "World.origin_stream")
    if prefill_s_per_mb:
        stream["headers_delay_per_mb"] = prefill_s_per_mb
    return stream


def lab_stream(spec: ProbeSpec, time_scale: float) -> dict:
    """The origin stream config (x-resetlab-stream) that makes this probe, in lab units."""
    deltas = max(4, min(400, int(spec.duration * EVENTS_PER_SECOND)))
    out: dict = {"deltas": deltas, "duration": spec.duration}
    if spec.longest_idle:
        out["idle"] = [{"after_event": 3, "seconds": spec.longest_idle}]
    return scale_stream_config(out, time_scale, "ProbeSpec")


# a connect + headers deadline is never shorter than this (real s): a tiny request through the
# lab's Python edge takes tens of ms, and a loaded 2-core machine can stretch that many times
HEADERS_FLOOR_S = 1.0
# an upload that makes no progress this long (real s) at least, or the stream's watchdog if
# longer, ends the probe: this lab's busy 2 cores held a tiny request up to 4.9 s, and a flow
# its NAT forgot mid-upload otherwise waited for its headers deadline (139 s of one h2 run)
UPLOAD_IDLE_FLOOR_S = 5.0


def compile_probe(spec: ProbeSpec, plan: LabPlan, base_url: str, origin_log: str = "") -> Probe:
    """The client's Probe for one measurement in a running world (lab units)."""
    s = plan.time_scale
    lab = SimpleNamespace(**lab_values(spec, s))
    # TCP keepalive counts whole seconds (>= 1): round up, and worlds keep margins for it
    keepalive = None if lab.keepalive is None else max(1, math.ceil(lab.keepalive))
    stream = lab_stream(spec, s)
    # the lab's own upload time is unscaled: allow 0.5 MB/s on top (h2 in Python is slow, and
    # several worlds searched at once share two cores: at 2 MB/s the headers deadline fired
    # during 32 MB uploads of a loaded machine, a failure of our own making)
    timeout = max(5.0, 4 * (lab.duration + lab.longest_idle) + 5.0) + spec.size / UPLOAD_FLOOR_BPS
    if lab.read_pace:  # a slow reader takes the response's bytes / its pace, at least
        timeout += (stream["deltas"] * RESPONSE_BYTES_PER_DELTA + RESPONSE_BYTES) / lab.read_pace
    timeout = min(timeout, 86400.0)  # Probe's ceiling (a day)
    if lab.headers_timeout is not None:  # a heartbeat: waiting longer than this is the path down
        timeout = max(HEADERS_FLOOR_S, lab.headers_timeout)
    idle = lab.idle_timeout or plan.client_idle_timeout
    # the raw client's overall cap: whatever hangs (a canary, a peer that never answers), the
    # probe ends -- far beyond every deadline and watchdog it has, so it never decides one
    deadline = min(86400.0, 2 * timeout + 2 * (lab.think_time or 0.0) + idle + 30.0) if spec.client == "raw" else None
    return Probe(base_url=base_url, size=spec.size, stream=spec.stream, deadline=deadline,
                 protocol="h2c" if spec.protocol == "h2c" else "http1",
                 keepalive=keepalive, read_pace=lab.read_pace, canary=spec.canary, h2_window=spec.h2_window,
                 timeout=timeout, lab_stream=stream, seed=spec.seed,
                 idle_timeout=lab.idle_timeout or plan.client_idle_timeout,
                 upload_idle=max(UPLOAD_IDLE_FLOOR_S, idle),
                 think_time=lab.think_time or None,
                 origin_log=origin_log or None)  # real clients count retries at the origin

