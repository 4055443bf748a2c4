"""node-sdk: one probe with the real `@anthropic-ai/sdk` on Node, mapped to the outcome taxonomy.

The SDK lives in the project-local npm folder clients/node/ (package.json pins the exact
version, package-lock.json is committed; `npm ci --prefix clients/node` installs it, done
here on first use when node_modules is missing). clients/node/probe.mjs runs ONE request
and prints ONE JSON line of what it saw (see its header); this module turns that into an
Observation:

    end                      from probe.mjs: complete | reset | eof | timeout | connect_error
    status                   of the last attempt's response headers (via a counting fetch)
    sse_error_type           an `event: error` in a 200 stream (the SDK throws APIError
                             with no status)
    error_type               the API error body's error.type for an HTTP error status
Measured with SDK 1.14.0 on Node 20 (undici's fetch, HTTP/1.1):
    RST mid-stream   TypeError "terminated" <- Error "read ECONNRESET" (code ECONNRESET)
    FIN mid-stream   TypeError "terminated" <- SocketError "other side closed" (UND_ERR_SOCKET)
    before headers   APIConnectionError "Connection error." <- TypeError "fetch failed"
                     <- Error "read ECONNRESET"  (retried: maxRetries)
`client_message` is "<class>: <message>" of the thrown error followed by its cause chain,
e.g. "TypeError: terminated <- Error: read ECONNRESET [ECONNRESET]".

The SDK's `timeout` covers only the fetch (until response headers): a stream stalled after
headers is ended by our own deadline, probe.deadline seconds (default
probe.timeout + 5), reported as timeout(body). probe.think_time: a HEAD / first
opens a pooled connection, idle this long before the probe reuses it.
"""

from __future__ import annotations

import json
import os
import subprocess

from harness.outcome import Observation, ProbeRecord, classify
from netem.errors import ConfigError
from netem.nsexec import scrubbed_environ

from . import retries
from .common import (
    NodeUnavailable,
    api_key,
    ensure_npm,
    errno_of,
    lab_headers,
    make_record,
    node_binary,
    npm_folder,
    request_body,
)
from .probe import Probe

CLIENT = "node-sdk"
FOLDER = npm_folder("node")
SCRIPT = os.path.join(FOLDER, "probe.mjs")


def describe_error(err: dict | None) -> str | None:
    """'<class>: <message> <- <class>: <message> [CODE] ...' from probe.mjs's error object."""
    if not err:
        return None
    parts = []
    for link in err.get("chain") or [{"class": err.get("class"), "message": err.get("message")}]:
        text = f"{link.get('class') or link.get('name')}: {link.get('message')}"
        if link.get("code"):
            text += f" [{link['code']}]"
        parts.append(text)
    return " <- ".join(parts)


def observation(out: dict) -> Observation:
    end = out.get("end")
    if end not in ("complete", "reset", "eof", "timeout", "connect_error"):
        raise RuntimeError(f"node probe: unexpected end {end!r}: {out}")
    status = out.get("status")
    errno = None
    if end in ("reset", "connect_error"):
        codes = [c.get("code") for c in (out.get("error") or {}).get("chain", []) if c.get("code")]
        errno = next((errno_of(c) for c in codes if errno_of(c)), None)
    phase = None
    if end == "timeout":
        phase = "body" if status is not None else "headers"
    return Observation(end=end, status=status, message_stop=bool(out.get("message_stop")),
                       sse_error_type=out.get("sse_error_type"), error_type=out.get("error_type"),
                       errno=errno, timeout_phase=phase)


def run(probe: Probe) -> ProbeRecord:
    if probe.protocol != "http1":
        raise ConfigError("Probe.protocol", probe.protocol,
                          "http1 (the Node SDK's fetch on Node 20 speaks HTTP/1.1 only)")
    if node_binary() is None:
        raise NodeUnavailable("node is not installed")
    ensure_npm(FOLDER)
    probe_id = retries.new_probe_id()
    body = request_body(probe)
    deadline = probe.deadline if probe.deadline is not None else probe.timeout + 5.0
    spec = {"base_url": probe.base_url, "api_key": api_key(probe), "body": body,
            "stream": probe.stream, "max_retries": probe.max_retries,
            "timeout_ms": probe.timeout * 1000, "deadline_ms": deadline * 1000,
            "headers": lab_headers(probe, probe_id), "ca_path": probe.ca_path,
            "think_ms": (probe.think_time or 0) * 1000}
    # no proxies, and none of the user's keys or tokens (the key it sends is in `spec`)
    env = {k: v for k, v in scrubbed_environ().items() if not k.lower().endswith("_proxy")}
    if probe.ca_path:
        env["NODE_EXTRA_CA_CERTS"] = probe.ca_path
    proc = subprocess.run([node_binary(), SCRIPT, "-"], input=json.dumps(spec), capture_output=True,
                          text=True, timeout=deadline + 30, cwd=FOLDER, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"node probe printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}")
    out = json.loads(lines[-1])
    if out.get("fatal"):
        raise RuntimeError(f"node probe failed: {out['fatal']}")
    obs = observation(out)
    outcome = classify(obs)
    view = retries.collect(probe, probe_id, expect=int(out.get("attempts") or 1))
    starts = [s / 1000 for s in out.get("attempt_starts_ms") or []]
    if view is not None and view.attempts:
        attempts, delays = view.attempts, view.delays
        request_bytes = view.records[0].get("body_bytes", 0)
    else:
        attempts = max(1, int(out.get("attempts") or 1))
        delays = [round(b - a, 6) for a, b in zip(starts, starts[1:], strict=False)]
        request_bytes = len(json.dumps(body))
    start = starts[-1] if starts else 0.0

    def rel(ms: float | None) -> float | None:
        return None if ms is None else round(max(0.0, ms / 1000 - start), 6)

    t_total = (out.get("t_total_ms") or 0) / 1000
    t_failure = rel(out.get("t_failure_ms"))
    if t_failure is None and outcome.kind != "completed":
        t_failure = rel(out.get("t_total_ms"))
    return make_record(
        outcome, CLIENT, status=obs.status, client_version=out.get("sdk_version"),
        protocol="http/1.1" if out.get("http_version") else None,
        events_received=int(out.get("events") or 0), request_bytes=request_bytes,
        t_headers=rel(out.get("t_headers_ms")), t_failure=t_failure, t_total=round(t_total, 6),
        request_id=out.get("request_id"), cf_ray=out.get("cf_ray"), attempt=attempts,
        attempts=attempts, retry_delays=delays, client_message=describe_error(out.get("error")),
        probe=retries.public_probe(probe))
