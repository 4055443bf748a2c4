"""curl: one probe with the curl command line, mapped to the outcome taxonomy.

    curl -sS -N -X POST URL/v1/messages?beta=true --data-binary @BODY -H ... -o OUT
         -w '%{json}' --max-time T [--retry N] [-y IDLE -Y 1] [--http2-prior-knowledge]

The body is context.build_body(probe.size) (as raw); lab headers as every runner. curl's own
retry (`--retry probe.max_retries`) is what a script would use: it retries timeouts and
408/429/500/502/503/504 only, with its own backoff (1 s, doubling). probe.idle_timeout:
seconds without a byte -> `--speed-time`, curl's only body watchdog (exit 28).

How curl's exit code (and `errormsg`, `http_code` of `-w %{json}`) becomes an Observation:
    0                     complete: status; the body's SSE events (message_stop, `event:
                          error`) or JSON (a message, or an API error's type)
    55 send / 56 recv     "Connection reset by peer" / "Broken pipe" -> reset; h2c
                          "Connection died, tried 5 times before giving up" (curl retried a
                          REFUSED_STREAM itself) -> rst_stream (code not told); else eof
    http_code 1xx         no headers yet (the "100 Continue" to its `Expect: 100-continue`)
    52 empty reply        eof before headers (a FIN)
    18 partial file       eof after headers ("transfer closed with outstanding read data");
                          h2c: "HTTP/2 stream N was not closed cleanly before end of the
                          underlying stream" -> goaway (a GOAWAY, then the connection closed)
    92 HTTP/2 stream      "... not closed cleanly: NAME (err N)" -> rst_stream N, else goaway
    16 HTTP/2 framing     goaway (GOAWAY NO_ERROR below our stream: the code is not told)
    28 timeout            timeout(headers | body) by http_code
    7 connect             connect_error(errno from the text: refused 111, unreachable 101/113)
`client_message` is "curl: (EXIT) errormsg".
"""

from __future__ import annotations

import errno as errno_mod
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness.origin.testing import parse_sse
from harness.outcome import Observation, ProbeRecord, classify

from . import retries
from .common import api_key, lab_headers, make_record
from .context import build_body
from .probe import Probe

CLIENT = "curl"
CONNECT_ERRNOS = {"Connection refused": errno_mod.ECONNREFUSED, "Network is unreachable": errno_mod.ENETUNREACH,
                  "No route to host": errno_mod.EHOSTUNREACH}


class CurlUnavailable(RuntimeError):
    pass


def version() -> str | None:
    try:
        out = subprocess.run(["curl", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"curl (\S+)", out)
    return m.group(1) if m else None


def body_facts(data: bytes) -> tuple[bool, str | None, str | None]:
    """(message_stop, sse error type, API error type) of a response body."""
    if data.lstrip().startswith(b"{"):
        try:
            body = json.loads(data)
        except ValueError:
            return False, None, None
        err = body.get("error") if isinstance(body, dict) else None
        return body.get("type") == "message", None, (err or {}).get("type") if isinstance(err, dict) else None
    try:
        events = parse_sse(data)
    except ValueError:
        events = []
    names = [n for n, _ in events]
    sse = next(((d.get("error") or {}).get("type") or "unknown" for n, d in events if n == "error"), None)
    return "message_stop" in names, sse, None


def observation(exit_code: int, errormsg: str, http_code: int, data: bytes, h2: bool = False) -> Observation:
    # a 1xx is not the response's headers: curl sends `Expect: 100-continue` with a large body
    # and reports the origin's "100 Continue" as http_code 100 if the connection then dies
    status = http_code if http_code >= 200 else None
    stop, sse, etype = body_facts(data)
    if exit_code == 0:
        return Observation(end="complete", status=status, message_stop=stop, sse_error_type=sse, error_type=etype)
    facts = {"status": status, "sse_error_type": sse, "error_type": etype if (status or 0) >= 400 else None}
    if exit_code in (55, 56):
        if "reset by peer" in errormsg or "Broken pipe" in errormsg:
            return Observation(end="reset", errno=errno_mod.ECONNRESET, **facts)
        if h2 and "Connection died, tried" in errormsg:  # its retry loop for REFUSED_STREAM
            return Observation(end="rst_stream", **facts)
        return Observation(end="eof", **facts)
    if exit_code == 18 and "HTTP/2 stream" in errormsg:  # the connection ended under an open stream
        return Observation(end="goaway", **facts)
    if exit_code in (18, 52):
        return Observation(end="eof", **facts)
    if exit_code == 92:
        m = re.search(r"not closed cleanly: \w+ \(err (\d+)\)", errormsg)
        if m:
            return Observation(end="rst_stream", h2_code=int(m.group(1)), **facts)
        return Observation(end="goaway", **facts)
    if exit_code == 16:
        return Observation(end="goaway", **facts)
    if exit_code == 28:
        return Observation(end="timeout", timeout_phase="body" if status else "headers", **facts)
    if exit_code == 7:
        code = next((n for text, n in CONNECT_ERRNOS.items() if text in errormsg), None)
        return Observation(end="connect_error", errno=code)
    return Observation(end="eof", **facts)


def run(probe: Probe) -> ProbeRecord:
    if shutil.which("curl") is None:
        raise CurlUnavailable("curl is not installed")
    if probe.protocol == "h2":
        raise ValueError("Probe.protocol: h2 over TLS is not wired for curl here (http1 or h2c)")
    probe_id = retries.new_probe_id()
    body = build_body(probe.size, stream=probe.stream, model=probe.model, max_tokens=probe.max_tokens,
                      seed=probe.seed)
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01",
               "x-api-key": api_key(probe), **lab_headers(probe, probe_id)}
    tmp = tempfile.mkdtemp(prefix="rl-curl-")
    try:
        body_path, out_path, cfg_path = (os.path.join(tmp, n) for n in ("body.json", "out", "headers.cfg"))
        with open(body_path, "wb") as f:
            f.write(body)
        with open(cfg_path, "w", encoding="utf-8") as f:  # headers in a config file: the key stays off argv
            for k, v in headers.items():
                f.write(f'header = "{k}: {v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n')
        cmd = ["curl", "-sS", "-N", "-X", "POST", probe.base_url.rstrip("/") + "/v1/messages?beta=true",
               "-K", cfg_path, "--data-binary", f"@{body_path}", "-o", out_path, "-w", "%{json}",
               "--max-time", str(probe.timeout)]
        if probe.max_retries:
            cmd += ["--retry", str(probe.max_retries)]
        if probe.protocol == "h2c":
            cmd.append("--http2-prior-knowledge")
        idle = probe.idle_timeout
        if idle:
            cmd += ["--speed-time", str(max(1, round(float(idle)))), "--speed-limit", "1"]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, timeout=probe.timeout * (probe.max_retries + 1) + 30)
        t_total = time.monotonic() - t0
        try:
            with open(out_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:  # no response body at all
            data = b""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        info = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"curl printed no -w json (exit {proc.returncode}): {proc.stderr[-500:]!r}") from None
    code, errormsg = int(info.get("exitcode") or 0), info.get("errormsg") or ""
    obs = observation(code, errormsg, int(info.get("http_code") or 0), data, h2=probe.protocol == "h2c")
    outcome = classify(obs)
    view = retries.collect(probe, probe_id, expect=1)
    attempts, delays = (view.attempts, view.delays) if view is not None and view.attempts else (1, [])
    t_headers = float(info.get("time_starttransfer") or 0) or None
    return make_record(
        outcome, CLIENT, status=obs.status, client_version=version(),
        protocol={"1.1": "http/1.1", "2": "h2c" if probe.protocol == "h2c" else "h2"}.get(info.get("http_version")),
        bytes_received=len(data), events_received=data.count(b"\n\n") if b"event:" in data else 0,
        request_bytes=len(body), t_headers=t_headers if obs.status else None,
        t_failure=None if outcome.kind == "completed" else round(t_total, 6), t_total=round(t_total, 6),
        attempt=attempts, attempts=attempts, retry_delays=delays,
        client_message=f"curl: ({code}) {errormsg}" if code else None, probe=retries.public_probe(probe))
