"""One word for what a raw test client saw (a small precursor of the outcome taxonomy)."""

from __future__ import annotations


def observe(res) -> str:
    """Classify a harness.origin.testing.RawResult."""
    if res.end == "rst_stream":
        return f"h2_rst_stream({res.error_code})"
    if res.end == "goaway":
        return f"h2_goaway({res.error_code})"
    if res.status is not None and res.status >= 400:
        return f"http_{res.status}"
    headers = res.status is not None
    if res.end == "complete":
        return "completed" if b"message_stop" in res.body else "truncated_clean"
    if res.end == "eof":
        return "fin_mid_stream" if headers else "fin_before_headers"
    if res.end == "reset":
        return "reset_mid_stream" if headers else "reset_before_headers"
    return f"timeout({'body' if headers else 'headers'})"
