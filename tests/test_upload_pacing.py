"""Probe starts are paced by request bytes: per search, and for all searches of a process."""

import threading
import time
from dataclasses import replace

from harness.experiment.factors import LAB, base
from harness.experiment.search import Search, Settings, machine_bucket


class _Instant:
    """A target whose probes take no time: only the pacing before them is measured."""

    ranges = LAB
    unit_s = 1.0
    upload_rate = 1e12  # the search's own bucket never waits: what waits is the machine's

    def probe(self, spec):
        return {"probe": {"size": spec.size}}


def _starts(searches, size: int, per_search: int) -> float:
    """Seconds for every search to start `per_search` probes of `size` bytes, concurrently."""
    spec = replace(base(LAB), size=size)
    tags = {"role": "ladder", "factor": "size", "level": float(size)}

    def run(search):
        for _ in range(per_search):
            search._one(spec, tags, 0.0)

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in searches]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10.0)  # a pacing that never lets go is reported, not waited for
    return time.monotonic() - t0 if not any(t.is_alive() for t in threads) else float("inf")


def test_one_machine_bucket_per_rate():
    assert machine_bucket(3e6) is machine_bucket(3e6)
    assert machine_bucket(3e6) is not machine_bucket(4e6)


def test_searches_of_one_process_share_the_machine_rate():
    """Two searches may start 4 MB at once between them when each only has its own bucket;
    sharing a 2 MB/s machine rate they wait >= 1 s for the second 2 MB (a lower bound, which
    a slow machine only lengthens)."""
    alone = _starts([Search(_Instant(), Settings(machine_upload_rate=None)) for _ in range(2)], 1_000_000, 2)
    assert alone < 0.9, alone
    shared = [Search(_Instant(), Settings(machine_upload_rate=2.01e6)) for _ in range(2)]
    both = _starts(shared, 1_000_000, 2)
    assert both >= 0.9, both


def test_a_target_without_a_network_is_never_paced():
    class Arithmetic(_Instant):
        upload_rate = None

    assert _starts([Search(Arithmetic(), Settings(machine_upload_rate=1e3))], 60_000_000, 3) < 0.5
