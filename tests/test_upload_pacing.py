"""Probe starts are paced by request bytes: per search, and for all searches of a process."""

import threading
import time

from harness.experiment.search import Bucket, machine_bucket


def _take_all(buckets_per_thread, n, times):
    stop = threading.Event()

    def run(buckets):
        for _ in range(times):
            for b in buckets:
                b.take(n, stop)

    threads = [threading.Thread(target=run, args=(bs,)) for bs in buckets_per_thread]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def test_one_machine_bucket_per_rate():
    assert machine_bucket(3e6) is machine_bucket(3e6)
    assert machine_bucket(3e6) is not machine_bucket(4e6)


def test_searches_share_the_machine_rate():
    """Two searches, each with its own full 2 MB/s bucket, could start 4 MB at once; the
    shared 2 MB/s bucket makes them wait for the second 2 MB (>= 1 s: a lower bound, which
    a slow machine only lengthens)."""
    own = _take_all([[Bucket(2e6)], [Bucket(2e6)]], 1_000_000, 2)
    assert own < 0.9, own  # each search alone is within its burst
    shared = machine_bucket(2e6)
    both = _take_all([[Bucket(2e6), shared], [Bucket(2e6), shared]], 1_000_000, 2)
    assert both >= 0.9, both


def test_no_rate_never_waits():
    assert _take_all([[machine_bucket(None)]], 10**12, 3) < 0.5
