"""Wire truth: what the packet tap saw of a probe's requests, beside what the client said.

`netem.tap` rebuilds each TCP connection the client host opened (both byte streams, when
each byte crossed the client's interface, every FIN / RST with the bytes up and down at that
moment). This package reads HTTP out of them, the same way for every client:

- HTTP/1.1: requests split at their request line and Content-Length; responses fed to an
  h11 client connection piece by piece in arrival order, so the status, the time the
  headers were complete, the body (SSE events: message_stop, `event: error`) and the end of
  the message are known with their times.
- h2c: frames on both streams (HPACK decoded with `hpack`, which h2 uses); per stream: the
  request's HEADERS, the response's HEADERS (:status), DATA, END_STREAM, RST_STREAM(code),
  and GOAWAY(code, last stream id) on the connection.
- TLS: only the TCP facts (who closed, when, bytes).

One `Exchange` per request (and one per connection refused before any request). How it
ended, from the wire: `complete` (the response's end of message arrived first), `rst` /
`fin` from the peer, `rst_stream` / `goaway`, `client_rst` / `client_fin` (the client gave
up first: its own timer), `refused`, or `open` (nothing ended it while the tap ran: silence).

`observation(ex)` turns the probe's last main request (a POST; a Claude Code conversation
request before its side requests) into an `outcome.Observation` when the wire decides it:
the peer ended it, or an HTTP error status or an SSE `error` event arrived. When the client
ended it first (a timeout) the wire has no better label than the client's: the record keeps
the client's, with the phase (headers / body) the wire saw. `attach()` puts all of it in a
record (`outcome.prefer_wire`).

Modules: http1.py and h2c.py read one flow each; exchange.py is the Exchange record and the
response-body reader they share.
"""

from __future__ import annotations

from harness.outcome import Observation, ProbeRecord, classify, prefer_wire
from netem.tap import Flow, Tap

from . import h2c, http1
from .exchange import ENDS, MAIN_BETA, PEER_ENDS, Exchange

__all__ = ["ENDS", "MAIN_BETA", "PEER_ENDS", "Exchange", "attach", "exchanges", "last_main", "observation",
           "timeout_phase"]


def exchanges(tap: Tap, t0: float, host: str = "client") -> list[Exchange]:
    """Every request the host made during the capture (and refused connections), in order."""
    out: list[Exchange] = []
    for n, flow in enumerate(tap.flows(host)):
        if flow.refused:
            out.append(Exchange(n, "tcp", main=True, t_request=flow.t_syn, end="refused",
                                t_end=flow.closes[0].t))
            continue
        if flow.down is None:  # the SYN went unanswered (blackhole, link down): no request left
            ex = Exchange(n, "tcp", t_request=flow.t_syn)
            _close(ex, flow, tap)
            out.append(ex)
            continue
        head = flow.up.data()[:len(h2c.H2_PREFACE)]
        if head.startswith(h2c.H2_PREFACE):
            found = h2c.exchanges(flow, n)
        elif head[:1] == b"\x16":  # TLS: one opaque exchange per connection
            found = [Exchange(n, "tls", t_request=flow.t_established)]
        else:
            found = http1.exchanges(flow, n)
        for ex in found:
            _close(ex, flow, tap)
        out += found
    beta = any(getattr(ex, "_beta", False) for ex in out)
    for ex in out:
        if beta and ex.method == "POST":
            ex.main = getattr(ex, "_beta", False)
        elif ex.method is not None and ex.method != "POST":
            ex.main = False
        ex.__dict__.pop("_beta", None)
        for name in ("t_request", "t_headers", "t_end"):
            v = getattr(ex, name)
            if v is not None:
                setattr(ex, name, max(0.0, v - t0))
    out.sort(key=lambda ex: (ex.t_request if ex.t_request is not None else 0.0))
    return out


def _close(ex: Exchange, flow: Flow, tap: Tap) -> None:
    """How the exchange ended if the response did not (the first FIN / RST after it began),
    and the bytes each way that belong to it at that moment."""
    start = ex.t_request if ex.t_request is not None else flow.t_syn
    if ex.end == "open":
        close = flow.first_close(after=start)
        if close is not None:
            peer = close.direction == "down"
            ex.end = close.kind if peer else f"client_{close.kind}"
            ex.t_end = close.t
            if peer and close.kind == "rst":
                rst = next((s for s in tap.rsts() if s.host == flow.host and s.direction == "in"
                            and s.t == close.t), None)
                ex.rst_from = tap.emitter(rst) if rst is not None else None
    end = ex.t_end if ex.t_end is not None else max([start, *flow.arrivals, *flow.sent])
    span = ex.__dict__.pop("_span", None)
    if span is not None:  # HTTP/1.1: this request's share of the upload, this response's of the download
        ex.bytes_up = min(max(0, flow.up.bytes_at(end) - span[0]), span[1] - span[0])
        if flow.down is not None:
            ex.bytes_down = flow.down.bytes_at(end) - flow.down.bytes_at(start - 1e-9)
    elif ex.protocol != "h2c":
        ex.bytes_up = flow.up.bytes_at(end)
        ex.bytes_down = flow.down.bytes_at(end) if flow.down is not None else 0
    ex.silence = flow.longest_silence(start, end)
    ex.retransmits = flow.up.retransmits + (flow.down.retransmits if flow.down else 0)


def last_main(found: list[Exchange]) -> Exchange | None:
    mains = [ex for ex in found if ex.main]
    return mains[-1] if mains else None


def observation(ex: Exchange | None) -> Observation | None:
    """The wire's Observation of an exchange, or None when the wire cannot decide it."""
    if ex is None:
        return None
    status = ex.status if ex.headers_before_end else None
    facts = dict(status=status, message_stop=ex.message_stop, sse_error_type=ex.sse_error_type,
                 error_type=ex.error_type)
    if ex.end == "complete":
        return Observation(end="complete", **facts)
    if ex.end == "rst":
        return Observation(end="reset", **facts)
    if ex.end == "fin":
        return Observation(end="eof", **facts)
    if ex.end in ("rst_stream", "goaway"):
        return Observation(end=ex.end, h2_code=ex.code, **facts)
    if ex.end == "refused":
        return Observation(end="connect_error", errno=111)
    if (status or 0) >= 400 or ex.sse_error_type is not None:
        return Observation(end="complete", **facts)  # decided before the client gave up
    return None  # the client ended it first (its own timer), or silence: its label stands


def timeout_phase(record: ProbeRecord, ex: Exchange | None) -> Observation | None:
    """A client timeout keeps its label, but the wire knows whether headers had arrived when
    the client gave up (a client that cannot see them, e.g. Claude Code's TUI, guesses)."""
    if record.outcome != "timeout" or record.phase == "connect" or ex is None or ex.protocol == "tcp" \
            or ex.end not in ("client_fin", "client_rst", "open"):
        return None
    headers = ex.headers_before_end
    return Observation(end="timeout", status=ex.status if headers else None,
                       timeout_phase="body" if headers else "headers")


def attach(record: ProbeRecord, tap: Tap, t0: float, host: str = "client") -> ProbeRecord:
    """Put the wire's view of the probe in `record` and let it decide the outcome. The
    wire's own label (None where it does not decide) is `record.wire["label"]`."""
    found = exchanges(tap, t0, host)
    last = last_main(found)
    obs = None if tap.drops else (observation(last) or timeout_phase(record, last))
    wire = {"exchanges": [ex.to_dict() for ex in found], "connections": len(tap.flows(host)),
            "drops": tap.drops, "label": classify(obs).label if obs is not None else None}
    record.rst_from = (last.rst_from if last is not None and last.rst_from else None) or tap.who_reset(host)
    return prefer_wire(record, obs, wire)
