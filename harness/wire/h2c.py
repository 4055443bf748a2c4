"""h2c out of a rebuilt TCP flow: frames on both streams (HPACK decoded with `hpack`, which
h2 uses); per stream the request's HEADERS, the response's HEADERS (:status), DATA,
END_STREAM, RST_STREAM(code), and GOAWAY(code, last stream id) on the connection."""

from __future__ import annotations

import struct

from netem.tap import Flow

from .exchange import MAIN_BETA, Body, Exchange

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _frames(data: bytes, pos: int):
    """(offset of the frame's end, type, flags, stream id, payload) of each whole frame."""
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos:pos + 3], "big")
        ftype, flags = data[pos + 3], data[pos + 4]
        sid = struct.unpack_from("!I", data, pos + 5)[0] & 0x7FFFFFFF
        end = pos + 9 + length
        if end > len(data):
            return
        yield end, ftype, flags, sid, data[pos + 9:end]
        pos = end


def _header_block(payload: bytes, flags: int) -> bytes:
    pad = payload[0] if flags & 0x08 else 0
    start = (1 if flags & 0x08 else 0) + (5 if flags & 0x20 else 0)
    return payload[start:len(payload) - pad]


def exchanges(flow: Flow, conn: int) -> list[Exchange]:
    import hpack

    up = flow.up.data()
    by_sid: dict[int, Exchange] = {}
    dec = hpack.Decoder()
    dec.max_allowed_table_size = 1 << 20
    for end, ftype, flags, sid, payload in _frames(up, len(H2_PREFACE)):
        if ftype == 1 and sid not in by_sid:  # HEADERS: a request
            try:
                hdrs = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                        for k, v in dec.decode(_header_block(payload, flags))}
            except Exception:  # noqa: BLE001 - a torn header block: no request we can name
                hdrs = {}
            ex = Exchange(conn, "h2c", method=hdrs.get(":method"), path=hdrs.get(":path"), stream_id=sid,
                          t_request=flow.up.time_at(end - 1))
            ex.main = ex.method == "POST"
            ex._beta = MAIN_BETA in hdrs.get("anthropic-beta", "")  # type: ignore[attr-defined]
            cl = hdrs.get("content-length")
            ex.request_bytes = int(cl) if cl and cl.isdigit() else None
            by_sid[sid] = ex
        elif ftype == 0 and sid in by_sid:
            by_sid[sid].bytes_up += len(payload)
    if flow.down is None:
        return list(by_sid.values())
    down = flow.down.data()
    dec = hpack.Decoder()
    dec.max_allowed_table_size = 1 << 20
    bodies: dict[int, Body] = {}
    for end, ftype, flags, sid, payload in _frames(down, 0):
        t = flow.down.time_at(end - 1)
        if ftype == 7 and len(payload) >= 8:  # GOAWAY: every stream above last_stream_id is lost
            last_sid, code = struct.unpack_from("!II", payload)
            for s, ex in by_sid.items():
                if ex.end == "open" and (s > (last_sid & 0x7FFFFFFF) or code != 0):
                    ex.end, ex.code, ex.t_end = "goaway", code, t
            continue
        ex = by_sid.get(sid)
        if ex is None or ex.end != "open":
            continue
        if ftype == 1:
            try:
                hdrs = dict(dec.decode(_header_block(payload, flags)))
                status = hdrs.get(":status") or hdrs.get(b":status")
                ex.status = int(status) if status else None
            except Exception:  # noqa: BLE001 - HPACK state lost (a hole): no status
                pass
            ex.t_headers = t
        elif ftype == 0:
            body = bodies.setdefault(sid, Body())
            body.feed(payload[1:len(payload) - payload[0]] if flags & 0x08 else payload)
            ex.bytes_down += len(payload)
            ex.sse_error_type, ex.message_stop = body.sse_error_type, body.message_stop
        elif ftype == 3 and len(payload) >= 4:
            ex.end, ex.code, ex.t_end = "rst_stream", struct.unpack_from("!I", payload)[0], t
        if flags & 0x01 and ftype in (0, 1) and ex.end == "open":  # END_STREAM
            body = bodies.get(sid)
            if body is not None:
                kind, etype = body.json_type()
                ex.message_stop = ex.message_stop or kind == "message"
                ex.error_type = etype if (ex.status or 0) >= 400 else None
            ex.end, ex.t_end = "complete", t
    return list(by_sid.values())


# -- all connections -------------------------------------------------------------------------
