"""The raw probe client: one ``POST /v1/messages?beta=true``, and exactly how it ended.

trio + h11 (HTTP/1.1) / h2 (h2c with prior knowledge, h2 over TLS with ALPN), sans-IO:
the client owns its socket (conn.py), so it reports the end of an exchange from the
socket's and the protocol's own view, which is what ``outcome.classify`` needs:

    end          how it is detected
    complete     h11 EndOfMessage / h2 StreamEnded on our stream
    eof          recv() returned b"" (FIN, or TLS close_notify + FIN) before that; also
                 h11's "incomplete body" protocol error, and an EOF in the TLS handshake
    reset        ECONNRESET or EPIPE from recv()/send() (the first error goes to whichever
                 call asks first, so a failed upload is reported by the reader too)
    rst_stream   h2 StreamReset on our stream (code = the frame's error code)
    goaway       h2 ConnectionTerminated (GOAWAY) before our stream ended (code); a
                 GOAWAY(NO_ERROR) whose last_stream_id covers our stream lets the stream
                 go on: it ends as whatever ends it (complete, RST_STREAM, RST), or as
                 goaway when the connection then closes (FIN) first
    timeout      our own timers: connect (TCP + TLS) and headers share probe.timeout from
                 the start; body = probe.idle_timeout (default probe.timeout) of
                 silence while we wait on the socket (our own pacing/pauses don't count);
                 a kernel ETIMEDOUT (keepalive / user timeout) is reported as timeout too
    connect_error  TCP connect failed (errno, e.g. ECONNREFUSED 111), name resolution
                 failed, or TLS verification failed (errno None); other socket errors
                 on an established connection (EHOSTUNREACH, ENETUNREACH) also land here,
                 with the errno, since they are neither an RST nor a FIN

Also recorded: status, message_stop (SSE event, or a complete JSON message when not
streaming), ``event: error`` type, API error body type, t_headers / t_failure / t_total
(seconds from the request start, i.e. before connect), response-body bytes and complete
SSE events received, request-id and cf-ray (as soon as headers arrive), the negotiated
protocol, the client's own message ("ConnectionResetError: [Errno 104] Connection reset
by peer", "RST_STREAM code 2", ...), request_bytes (body length). One attempt, no retries.

Probe knobs: keepalive (SO_KEEPALIVE, TCP_KEEPIDLE=idle, TCP_KEEPINTVL=max(1, idle/3),
TCP_KEEPCNT=3), read_pace (bytes/s from the socket; SO_RCVBUF shrinks to 16 KB so the
backlog reaches the server), read_pauses ((after_seconds since the request start,
pause_seconds)), h2_window (our INITIAL_WINDOW_SIZE, and the connection window raised to
it; credit is returned only for DATA the client has read, so pacing backs up to the
server), canary (a second connection, HEAD / then idle; reported under
``record.probe["canary"]``), and the typed knobs idle_timeout, connect_timeout, rcvbuf,
user_timeout (TCP_USER_TIMEOUT seconds), congestion (TCP_CONGESTION), headers (extra
request headers), seed (body seed), think_time, canary_timeout (seconds the canary may take
to connect and answer HEAD /, at the start and at the end; default min(3, probe.timeout)).

What the record's ``probe`` dict adds to the Probe's fields: ``api_key`` ("env" when the
key came from ``probe.api_key_env``, "dummy" otherwise; never the key), ``sockopts``
(read back with getsockopt after connect), and with ``canary``:

    {"alive": bool, "end": "open" | "eof" | "reset" | "goaway" | "rst_stream" | "timeout"
     | "connect_error" | "error" | "protocol_error", "t": seconds after the probe's
     start when it was found dead (null if alive), "protocol": ..., "heads": HEADs sent,
     plus "errno" / "code" / "phase" / "message" when they apply}
"""

from __future__ import annotations

import os
import ssl

import trio

from harness.outcome import Observation, ProbeRecord, classify
from netem.errors import ConfigError

from ..common import mock_headers
from ..conn import Conn, Deadline, HandshakeEOF, Pacer
from ..context import build_body
from ..probe import Probe
from .canary import Canary
from .h1 import _h1, _h1_warmup
from .h2 import GoawaySplitter, _h2
from .observe import SseParser, _Limits, _State
from .target import CLIENT, USER_AGENT, VERSION, Target, _configure, read_sockopts

__all__ = ["CLIENT", "USER_AGENT", "VERSION", "Canary", "GoawaySplitter", "SseParser", "Target", "probe_async",
           "read_sockopts", "run"]


def _request_headers(probe: Probe) -> tuple[list[tuple[str, str]], str]:
    key = os.environ.get(probe.api_key_env) if probe.api_key_env else None
    source = "env" if key else "dummy"
    headers = [("x-api-key", key or "lab-key"), ("anthropic-version", "2023-06-01"),
               ("content-type", "application/json"), ("accept", "application/json"),
               ("x-stainless-retry-count", "0"), ("user-agent", USER_AGENT)]
    headers += mock_headers(probe).items()
    return headers, source


async def _exchange(st: _State, probe: Probe, target: Target, headers, body: bytes) -> None:
    connect_deadline = st.t0 + (probe.connect_timeout if probe.connect_timeout is not None else probe.timeout)
    lim = _Limits(headers_deadline=st.t0 + probe.timeout,
                  idle=probe.idle_timeout if probe.idle_timeout is not None else probe.timeout,
                  upload_idle=probe.upload_idle)
    st.stage = "connect"
    try:
        conn = await Conn.connect(target.host, target.port,
                                  deadline=min(connect_deadline, lim.headers_deadline),
                                  configure=_configure(probe))
    except Deadline:
        st.finish("timeout", f"timeout: no TCP connection after {st.now():.3f} s",
                  timeout_phase="connect")
        return
    except OSError as exc:  # ECONNREFUSED, ENETUNREACH, name resolution (gaierror)
        st.finish("connect_error", f"{type(exc).__name__}: {exc}", errno=exc.errno)
        return
    try:
        st.sockopts = read_sockopts(conn.sock)
        if target.tls:
            st.stage = "tls"
            try:
                alpn = await conn.start_tls(target.tls_context(probe.ca_path), target.host,
                                            min(connect_deadline, lim.headers_deadline))
            except Deadline:
                st.finish("timeout", f"timeout: TLS handshake not done after {st.now():.3f} s",
                          timeout_phase="connect")
                return
            except HandshakeEOF as exc:
                st.finish("eof", f"{type(exc).__name__}: {exc}")
                return
            except ssl.SSLError as exc:  # e.g. certificate verify failed
                st.finish("connect_error", f"{type(exc).__name__}: {exc}")
                return
            st.protocol = "h2" if alpn == "h2" else "http/1.1"
        else:
            st.protocol = "h2c" if target.protocol == "h2c" else "http/1.1"
        pauses = [(st.t0 + after, pause) for after, pause in probe.read_pauses]
        if probe.read_pace is not None or pauses:
            conn.pacer = Pacer(probe.read_pace, pauses)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.writer)
            try:  # caught here, not outside: newer trio wraps nursery errors in groups
                think = probe.think_time
                if think and st.protocol == "http/1.1":
                    st.stage = "warm-up"
                    h = await _h1_warmup(conn, target, headers, lim, float(think), st)
                    if isinstance(h, tuple):
                        # the nursery must cancel the writer task (finally, below), or it waits
                        # for it until the overall deadline (a warm-up lost in an outage held
                        # h3's think-time probes 129 s)
                        st.finish(h[0], h[1], **({"timeout_phase": "headers"} if h[0] == "timeout" else {}))
                    else:
                        # the probe is the request made after the think time
                        st.t0 = trio.current_time()
                        st.stage = "request"
                        lim = _Limits(headers_deadline=st.t0 + probe.timeout, idle=lim.idle,
                                      upload_idle=lim.upload_idle)
                        await _h1(st, conn, target, headers, body, lim, h)
                elif think:
                    raise ConfigError("Probe.think_time", think, "HTTP/1.1 probes only (pooled reuse)")
                elif st.protocol == "http/1.1":
                    st.stage = "request"
                    await _h1(st, conn, target, headers, body, lim)
                else:
                    st.stage = "request"
                    await _h2(st, conn, target, headers, body, lim, probe.h2_window, nursery)
            except (OSError, ssl.SSLError) as exc:
                st.fail_with(exc)
            finally:  # the writer task ends with the exchange, however the exchange ended
                nursery.cancel_scope.cancel()
    except (OSError, ssl.SSLError) as exc:  # before the exchange: TLS handshake reset
        st.fail_with(exc)
    finally:
        conn.close()


async def probe_async(probe: Probe, seen: list | None = None) -> ProbeRecord:
    """Run one probe inside trio; never raises for what the network did (that is the result).

    Raises ConfigError for a probe that cannot be run (e.g. h2 with an http:// URL).
    """
    target = Target.from_probe(probe)
    body = build_body(probe.size, stream=probe.stream, model=probe.model,
                      max_tokens=probe.max_tokens, seed=probe.seed)
    headers, key_source = _request_headers(probe)
    info = probe.public()
    info["api_key"] = key_source
    async with trio.open_nursery() as nursery:
        canary = None
        if probe.canary:
            canary = Canary(probe, target)
            await canary.open(nursery)
        st = _State(t0=trio.current_time())
        if seen is not None:
            seen.append(st)
        await _exchange(st, probe, target, headers, body)
        st.stage = "canary" if canary is not None else "done"
        if st.end is None:  # cannot happen; never report a silent success
            st.finish("eof", "internal: the exchange ended without an end kind")
        st.settle()
        if canary is not None:
            info["canary"] = await canary.finish(st.t0)
        nursery.cancel_scope.cancel()
    info["sockopts"] = st.sockopts
    outcome = classify(st.observation())
    t_end = st.t_end if st.t_end is not None else st.now()
    # from_outcome takes the status from the outcome (http_error) or from kw (the rest)
    return ProbeRecord.from_outcome(
        outcome, CLIENT, client_version=VERSION, protocol=st.protocol, status=st.status,
        bytes_received=st.bytes, events_received=st.events, request_bytes=len(body),
        t_headers=_round(st.t_headers),
        t_failure=None if outcome.kind == "completed" else _round(st.t_fail if st.t_fail is not None else t_end),
        t_total=_round(t_end), request_id=st.headers.get("request-id"), cf_ray=st.headers.get("cf-ray"),
        attempt=1, attempts=1, client_message=st.message, probe=info)


def _round(t: float | None) -> float | None:
    return None if t is None else round(max(0.0, t), 6)


async def bounded(probe: Probe) -> ProbeRecord:
    """probe_async under `probe.deadline` (overall seconds), when set: whatever hangs inside
    (a canary, a think time, a peer that never answers), the probe ends, as a timeout."""
    if probe.deadline is None:
        return await probe_async(probe)
    seen: list = []
    with trio.move_on_after(probe.deadline):
        return await probe_async(probe, seen)
    where = ""
    if seen:  # where it hung: a measurement too
        st = seen[0]
        where = (f" (stuck in: {st.stage}, {st.phase}; {st.bytes} response bytes"
                 f"{'' if st.end is None else ', ended ' + st.end + ' before: ' + str(st.message)})")
    info = probe.public()
    _, info["api_key"] = _request_headers(probe)
    return ProbeRecord.from_outcome(classify(Observation("timeout", timeout_phase="body")), CLIENT,
                                    client_version=VERSION, t_failure=probe.deadline, t_total=probe.deadline,
                                    client_message=f"overall deadline: {probe.deadline:.3f} s{where}", probe=info)


def run(probe: Probe) -> ProbeRecord:
    """Synchronous entry point (the runner registered as "raw")."""
    return trio.run(bounded, probe)
