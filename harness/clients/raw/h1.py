"""The raw client over HTTP/1.1 (h11): one POST, or a pooled connection reused after a think time."""

from __future__ import annotations

import h11
import trio

from harness.http.observe import Seen, seen_h1

from .observe import _Limits, _recv, _State
from .target import Target


async def _h1_warmup(conn, target: Target, headers: list[tuple[str, str]], lim: _Limits,
                     think: float, st: _State | None = None) -> h11.Connection | tuple[str, str]:
    """A pooled connection: HEAD / on it, then leave it idle for `think` seconds.

    Returns the h11 connection, ready for the next request, or how the warm-up ended (an end
    kind: timeout, our own deadline; eof, the server closed) and why.
    """
    h = h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 20)
    conn.queue(h.send(h11.Request(method="HEAD", target=target.prefix + "/",
                                  headers=[("host", target.authority), *headers])))
    conn.queue(h.send(h11.EndOfMessage()))
    while True:
        event = h.next_event()
        if event is h11.NEED_DATA:
            data = await conn.recv(lim.headers_deadline)
            if data is None:
                return "timeout", "timeout: the warm-up request got no answer before the headers deadline"
            h.receive_data(data)
            continue
        if isinstance(event, h11.EndOfMessage):
            break
        if isinstance(event, h11.ConnectionClosed):
            return "eof", "warm-up connection closed"
    h.start_next_cycle()
    if st is not None:
        st.stage = "think"
    # idle, and deliberately not reading: like a pool, we only find out on reuse
    await trio.sleep(think)
    return h


async def _h1(st: _State, conn, target: Target, headers: list[tuple[str, str]], body: bytes,
              lim: _Limits, h: h11.Connection | None = None) -> None:
    h = h or h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 20)
    req = h11.Request(method="POST", target=target.prefix + "/v1/messages?beta=true",
                      headers=[("host", target.authority), *headers,
                               ("content-length", str(len(body)))])
    conn.queue(h.send(req))
    if body:
        conn.queue(h.send(h11.Data(data=body)))
    conn.queue(h.send(h11.EndOfMessage()))
    eof = False
    while st.end is None:
        try:
            event = h.next_event()
        except h11.RemoteProtocolError as exc:
            if eof and conn.send_error is not None:
                st.fail_with(conn.send_error)
            else:
                if not eof:
                    st.finish("eof", f"bad response: {exc}")
                elif st.status is None:
                    st.finish("eof", "EOF: the server closed the connection (FIN) before response headers")
                else:
                    st.finish("eof", f"EOF (FIN) mid-response: {exc}")
            return
        if event is h11.NEED_DATA:
            data = await _recv(st, conn, lim)
            if data is None:
                return
            eof = not data
            h.receive_data(data)
        else:  # InformationalResponse (100 Continue) and PAUSED show nothing
            _take(st, seen_h1(event), "EOF: the server closed the connection (FIN) before a response")


def _take(st: _State, seen: Seen | None, eof_message: str) -> None:
    """What one event showed of our response (harness.http.observe), into the state."""
    if seen is None:
        return
    if seen.kind == "headers":
        st.on_headers(seen.status, list(seen.headers))
    elif seen.kind == "data":
        st.on_body(seen.data)
    elif seen.end == "complete":
        st.finish("complete")
    elif seen.end == "eof":
        st.finish("eof", eof_message)
