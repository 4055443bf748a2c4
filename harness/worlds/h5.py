"""H5 (pre-header family): large requests reset before response headers.

The origin's time to first byte grows with the request (prefill: 15 s per MB of
context); the edge resets a request whose response headers take longer than 100 s
(a first-byte budget, with RST rather than Cloudflare's 524). Requests above ~6.7 MB
never get headers; retries of the same request fail the same way. This is the family
Claude Code logs as `api_error` with `retryAttempt`.
"""

from __future__ import annotations

from harness.edge.policy import EdgePolicy

from .hypothesis import Hypothesis
from .model import ProbeSpec, World
from .prediction import Effect, Expect, table

FIRST_BYTE, PREFILL = 100.0, 15.0  # seconds, seconds per MB

PREDICTIONS = table(
    Effect("size", "raises", "prefill time grows with the context; big ones cross the first-byte budget"),
    Effect("duration", "none", "the failure happens before any of the stream exists"),
    Effect("size_x_duration", "any", "the size part crosses the first-byte budget"),
    Effect("idle_gap", "none", "before headers there is no stream to be silent"),
    Effect("keepalive", "none", "the connection is busy waiting for headers, not idle"),
    Effect("protocol", "none", "the budget is the same for HTTP/1.1 and HTTP/2"),
    Effect("read_pace", "none", "nothing to read before headers"),
    Effect("think_time", "none", "a fresh or a pooled connection waits the same"),
    Effect("canary", "none", "a first-byte budget is per request"),
    Effect("heartbeat", "none", "a tiny request is far inside the first-byte budget"),
)
# an HTTP answer (504, 413, 429) is not a failure of any hypothesis: only pre-header aborts
KINDS = {"*": {"reset_before_headers", "fin_before_headers", "timeout_headers"}}


# time_scale 0.02: the 6 MB cell is 10 field s (0.2 s real) inside the budget, and the lab's
# own upload time (unscaled; up to ~0.3 s for 6 MB when both cores are busy) comes out of that
# margin -- at 0.01 it ate all of it and the cell failed under load.
def world(first_byte: float = FIRST_BYTE, prefill_s_per_mb: float = PREFILL, time_scale: float = 0.02, **kw) -> World:
    return World(name="h5", hypothesis="h5", time_scale=time_scale, prefill_s_per_mb=prefill_s_per_mb,
                 edge_policy=EdgePolicy(first_byte_timeout=first_byte, on_limit="rst"),
                 description=__doc__.split("\n")[0], **kw)


def expect(w: World, p: ProbeSpec) -> Expect:
    if p.size / 1e6 * w.prefill_s_per_mb > w.edge_policy.first_byte_timeout:
        return Expect.failure("reset_before_headers")
    return Expect.ok()


def cells(w: World, sizes: tuple[int, ...]) -> list[ProbeSpec]:
    # the witness at 10 MB shows the mechanism even when the quick matrix runs 1 KB only
    big = tuple(sorted(set(sizes) | {10_000_000}))
    return [ProbeSpec(size=s, duration=10) for s in big] + [ProbeSpec(size=big[0], duration=300)]


HYPOTHESIS = Hypothesis("h5", __doc__.split("\n")[0], PREDICTIONS, KINDS, world, expect, cells)
