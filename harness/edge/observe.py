"""What a raw test client saw, as the outcome label (the one classifier: harness/outcome.py)."""

from __future__ import annotations

from harness.outcome import classify


def observe(res) -> str:
    """The outcome label of a harness.http.observe.Response (what origin/testing.py returns)."""
    return classify(res.observation()).label
