"""The external target against the mock origin on loopback: what the engine learns from its
base probes about a server that does or does not speak h2c (real sockets, no namespace)."""

from dataclasses import replace

import pytest

from harness.experiment.analysis import history, outcome_class
from harness.experiment.factors import base
from harness.experiment.target import ExternalTarget
from harness.origin import OriginConfig, OriginThread

STREAM = {"deltas": 8, "ping_interval": None}


@pytest.mark.parametrize("h2c", [True, False])
def test_the_base_probes_tell_whether_the_target_speaks_h2c(h2c):
    with OriginThread(OriginConfig(stream=STREAM, h2c=h2c)) as o:
        target = ExternalTarget(o.url, None)
        spec = base(target.ranges)
        records = []
        for proto in ("http1", "http1", "h2c", "h2c"):
            rec = target.probe(replace(spec, protocol=proto))
            rec["probe"]["role"] = "base"
            records.append(rec)
    h = history(records)
    h1 = [r for r in records if r["probe"]["protocol"] == "http1"]
    assert all(r["outcome"] == "completed" for r in h1), [r["outcome"] for r in h1]
    assert h.h2c_unsupported is (not h2c), [r["outcome"] for r in records]
    if not h2c:
        # the refusal is a failure before headers (the preface met an HTTP/1.1 parser), never
        # an HTTP answer the judge would count as the target's word
        assert all(outcome_class(r) == "failure" and not r.get("t_headers") for r in records[2:]), records[2:]


def test_a_heartbeat_gives_up_waiting_for_headers_after_half_the_watchdog():
    """A path that swallows requests (a blackhole, a peer that never answers) must fail a
    heartbeat as soon as it would kill a stream, not after a probe's generous deadline: the
    heartbeat's connect + headers deadline is the client's watchdog, as a stream's silence."""
    import socket
    import time

    from harness.experiment.factors import heartbeat
    from harness.worlds.compile import HEADERS_FLOOR_S

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)  # accepts (the kernel does) and never answers
    try:
        target = ExternalTarget(f"http://127.0.0.1:{srv.getsockname()[1]}", None)
        target.ranges = replace(target.ranges, watchdog=1.5)
        spec = heartbeat(target.ranges)
        assert spec.headers_timeout == 1.5 >= HEADERS_FLOOR_S
        t0 = time.monotonic()
        rec = target.probe(spec)
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert rec["outcome"].startswith("timeout") and outcome_class(rec) == "failure", rec["outcome"]
    # 1.5 s deadline; a stream probe's would be 4 x 0 + 1.5 + 5 = 6.5 s
    assert 1.4 <= took < 4.0, took
