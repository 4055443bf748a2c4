"""HTTP/1.1 out of a rebuilt TCP flow: requests split at their request line and
Content-Length; responses fed to an h11 client connection piece by piece, in arrival order."""

from __future__ import annotations

import h11

from netem.tap import Flow, Stream

from .exchange import MAIN_BETA, Body, Exchange

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")


def requests(data: bytes) -> list[tuple[int, int, str, str, dict[bytes, bytes]]]:
    """(offset, end offset, method, target, headers) of each request in an upload stream."""
    out, pos = [], 0
    while pos < len(data) and data.startswith(METHODS, pos):
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        lines = data[pos:head_end].split(b"\r\n")
        method, target = (lines[0].split(b" ") + [b""])[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0") or 0)
        end = head_end + 4 + length
        out.append((pos, end, method.decode(), target.decode("latin-1"), headers))
        pos = end
    return out


def exchanges(flow: Flow, conn: int) -> list[Exchange]:
    up = flow.up.data()
    reqs = requests(up)
    if not reqs:
        return []
    out = []
    for off, end, method, target, headers in reqs:
        ex = Exchange(conn, "http/1.1", method=method, path=target,
                      t_request=flow.up.time_at(off), request_bytes=end - off - _head_len(up, off))
        ex._span = (off, end)  # type: ignore[attr-defined]
        ex._beta = MAIN_BETA.encode() in headers.get(b"anthropic-beta", b"")  # type: ignore[attr-defined]
        out.append(ex)
    if flow.down is not None:
        _responses(flow.down, out)
    return out


def _head_len(data: bytes, off: int) -> int:
    return data.find(b"\r\n\r\n", off) + 4 - off


def _responses(down: Stream, exchanges: list[Exchange]) -> None:
    """Feed the download to h11 in arrival order; fill status / headers time / body / end."""
    data = down.data()
    conn = h11.Connection(our_role=h11.CLIENT)
    i, body = 0, Body()

    def begin(k: int) -> None:
        method = exchanges[k].method or "POST"
        conn.send(h11.Request(method=method, target="/", headers=[("host", "wire"), ("content-length", "0")]))
        conn.send(h11.EndOfMessage())

    begin(0)
    for t, a, b in down.arrivals:
        if a >= len(data):
            break
        conn.receive_data(data[a:b])
        while i < len(exchanges):
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return
            if event in (h11.NEED_DATA, h11.PAUSED):
                break
            ex = exchanges[i]
            if isinstance(event, h11.Response):
                ex.status, ex.t_headers = event.status_code, t
            elif isinstance(event, h11.Data):
                body.feed(bytes(event.data))
                ex.sse_error_type, ex.message_stop = body.sse_error_type, body.message_stop
            elif isinstance(event, h11.EndOfMessage):
                kind, etype = body.json_type() if not body.data.startswith(b"event:") else (None, None)
                if ex.status is not None and ex.status >= 400:
                    ex.error_type = etype
                elif kind == "message":
                    ex.message_stop = True
                ex.end, ex.t_end = "complete", t
                i, body = i + 1, Body()
                if i < len(exchanges) and conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                    begin(i)
                else:
                    return
            elif isinstance(event, h11.ConnectionClosed):
                return
    if i < len(exchanges) and body.data and exchanges[i].status is not None and exchanges[i].status >= 400:
        exchanges[i].error_type = body.json_type()[1]


# -- h2c -------------------------------------------------------------------------------------
