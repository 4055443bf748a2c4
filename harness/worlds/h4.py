"""H4: HTTP/2 flow-control stall.

HTTP/2 from the client to the edge with a small stream window (the client's), a client
that reads slowly, and an edge that resets a stream stalled on flow control for longer
than a limit (30 s). Over HTTP/1.1 the same slow reader is absorbed by TCP buffers (the
whole SSE response fits), so nothing is reset.
"""

from __future__ import annotations

from harness.edge.policy import EdgePolicy

from .hypothesis import Hypothesis
from .model import ProbeSpec, World
from .prediction import Effect, Expect, table

STALL_LIMIT = 30.0
WINDOW = 4096  # the slow client's HTTP/2 stream window (bytes)
# bytes per field second: draining a full 4 KB window takes 100 field s, beyond twice the
# stall limit (1024 B/s in the lab at time_scale 0.04: read paces scale like durations, inversely)
SLOW = 40.96
# 0.04, not 0.02: the 30 s stall limit is then 1.2 real s. At 0.6 s, five worlds searched at
# once starved the slow reader past it: in one ./lab table run every read-pace level from
# 0.5 s per window up failed in the same 8 s (headers after up to 2.3 s), the ladder's
# boundary came out at 7.7-8 s, and the treatment batch's controls then passed 0/8
TIME_SCALE = 0.04

PREDICTIONS = table(
    Effect("size", "none", "the request size does not touch the response window"),
    Effect("duration", "none", "a fast reader never stalls however long the stream"),
    Effect("size_x_duration", "none", "neither touches the response window"),
    Effect("idle_gap", "none", "silence is not a flow-control stall"),
    Effect("keepalive", "none", "TCP keepalive does not open an HTTP/2 window"),
    Effect("protocol", "removes", "HTTP/1.1 has no stream window: TCP buffers absorb the stream"),
    Effect("read_pace", "raises", "a slow reader leaves the window closed past the stall limit"),
    Effect("think_time", "none", "idle between turns is not a stall"),
    Effect("canary", "none", "RST_STREAM kills one stream, not the connection next to it"),
    Effect("heartbeat", "none", "a tiny response never fills a window"),
)
KINDS = {"*": {"h2_rst_stream", "h2_goaway"}}


def world(stall_limit: float = STALL_LIMIT, time_scale: float = TIME_SCALE, **kw) -> World:
    policy = EdgePolicy(client_protocol="h2c", send_stall_timeout=stall_limit, on_limit="rst_stream",
                        h2_error_code=2)
    return World(name="h4", hypothesis="h4", time_scale=time_scale, edge_policy=policy,
                 description=__doc__.split("\n")[0], **kw)


def expect(w: World, p: ProbeSpec) -> Expect:
    # the window drains at read_pace: the edge waits WINDOW / pace field seconds for credit
    limit = w.edge_policy.send_stall_timeout
    window = p.h2_window or 65535
    if p.protocol == "h2c" and p.read_pace is not None and window / p.read_pace > 2 * limit:
        return Expect.failure("h2_rst_stream")
    return Expect.ok()


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    grid = [ProbeSpec(size=s, duration=8, protocol=p, read_pace=SLOW, h2_window=WINDOW)
            for s in sizes for p in ("h2c", "http1")]
    return grid + [ProbeSpec(size=sizes[0], duration=8, protocol="h2c", h2_window=WINDOW)]


HYPOTHESIS = Hypothesis("h4", __doc__.split("\n")[0], PREDICTIONS, KINDS, world, expect, cells)
