"""What each real proxy was measured to send the client when a limit trips.

Not assumed: tests/test_edge.py re-measures every entry against Debian's nginx 1.22 and
haproxy 2.6 and fails if the proxy's behaviour no longer matches this table. Keys are
(proxy, limit, client protocol); values are the client-side observation (see
`harness.edge.observe`). The built-in edge needs no table: it does what the policy says.
"""

OBSERVED = {
    # upstream silent before response headers (first-byte / read timeout)
    ("nginx", "first_byte", "http1"): "http_error(504, None)",
    ("haproxy", "first_byte", "http1"): "http_error(504, None)",
    # upstream silent mid-stream (read / server timeout)
    ("nginx", "idle", "http1"): "fin_mid_stream",
    ("haproxy", "idle", "http1"): "fin_mid_stream",
    ("nginx", "idle", "h2c"): "h2_rst_stream(2)",
    # haproxy ends the h2 stream *cleanly* (END_STREAM): a silent truncation
    ("haproxy", "idle", "h2c"): "truncated_clean",
    # request body over the limit
    ("nginx", "max_body", "http1"): "http_error(413, None)",
    ("haproxy", "max_body", "http1"): "http_error(413, None)",
    # idle keep-alive connection closed by the proxy
    ("nginx", "client_idle", "http1"): "fin",
    ("haproxy", "client_idle", "http1"): "fin",
}
