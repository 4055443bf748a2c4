"""Small blocking raw clients for testing the origin: they report exactly how a response ended.

Not the experiment's probe client (that belongs to the client layer); these exist so the
origin's own tests can see RST vs FIN vs RST_STREAM vs GOAWAY from the client's side.

    r = h1_request(("127.0.0.1", port), body=messages_body(stream=True))
    r.status, r.headers, r.end ("complete" | "eof" | "reset" | "timeout"), r.events()
    r = h2_request(("127.0.0.1", port), ...)   # h2c prior knowledge, or TLS with ca=...
    r.end adds "rst_stream" | "goaway", with r.error_code / r.last_stream_id
"""

from __future__ import annotations

import json
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h11

from harness.http.observe import Response as RawResult
from harness.http.observe import parse_sse, seen_h1, seen_h2

from .tls import client_context

__all__ = ["RawResult", "h1_request", "h2_request", "messages_body", "parse_sse", "wait_records"]

API_HEADERS = {"x-api-key": "sk-test-secret", "content-type": "application/json",
               "anthropic-version": "2023-06-01"}


def messages_body(stream: bool = True, **extra) -> bytes:
    body = {"model": "claude-test", "max_tokens": 1024, "stream": stream,
            "messages": [{"role": "user", "content": "hello"}], **extra}
    return json.dumps(body).encode()


def _merge(base: dict[str, str], extra: dict[str, str | None] | None) -> dict[str, str]:
    """Headers: `extra` overrides `base`; a None value removes the header."""
    out = dict(base)
    for key, value in (extra or {}).items():
        out.pop(key, None)
        if value is not None:
            out[key] = value
    return out


def wait_records(records, n: int, timeout: float = 5.0) -> list[dict]:
    """Wait until an origin's in-memory request log holds at least n records."""
    deadline = time.monotonic() + timeout
    while len(records) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(records)


class BioTls:
    """A TLS client socket done with ssl.MemoryBIO over a plain socket.

    Why: Python's SSLSocket reports a TCP RST during a read as a "ragged EOF"
    (SSLEOFError, or b"" with the default suppress_ragged_eofs=True), so a client using
    it cannot tell RST from FIN. Here the raw recv raises ConnectionResetError itself.
    """

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, hostname: str):
        self.sock = sock
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self._in, self._out, server_hostname=hostname)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("EOF during TLS handshake") from None
                self._in.write(data)
        self._flush()

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.sock.sendall(data)

    def selected_alpn_protocol(self) -> str | None:
        return self.obj.selected_alpn_protocol()

    def sendall(self, data: bytes) -> None:
        self.obj.write(data)
        self._flush()

    def recv(self, n: int) -> bytes:
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:  # close_notify
                return b""
            data = self.sock.recv(65536)  # ConnectionResetError on RST
            if not data:
                return b""  # FIN
            self._in.write(data)

    def close(self) -> None:
        self.sock.close()


def _connect(addr, ca: str | None, alpn: tuple[str, ...], timeout: float):
    sock = socket.create_connection(addr, timeout=timeout)
    if ca is None:
        return sock, None
    tls = BioTls(sock, client_context(ca, alpn), addr[0])
    return tls, tls.selected_alpn_protocol()


def h1_request(addr, method: str = "POST", path: str = "/v1/messages", body: bytes = b"",
               headers: dict[str, str] | None = None, *, ca: str | None = None,
               timeout: float = 10.0, send_body: bool = True) -> RawResult:
    """One HTTP/1.1 request on a fresh connection; reads until the response ends somehow."""
    hdrs = _merge({"host": f"{addr[0]}:{addr[1]}", **API_HEADERS}, headers)
    if method in ("POST", "PUT") and not {"content-length", "transfer-encoding"} & set(hdrs):
        hdrs["content-length"] = str(len(body))
    res = RawResult()
    sock, res.alpn = _connect(addr, ca, ("http/1.1",), timeout)
    conn = h11.Connection(h11.CLIENT)

    def exchange(t0: float) -> None:
        data = conn.send(h11.Request(method=method, target=path, headers=list(hdrs.items())))
        if send_body and body:
            data += conn.send(h11.Data(data=body))
        if send_body:
            data += conn.send(h11.EndOfMessage())
        sock.sendall(data)
        while not res.end:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
                continue
            res.apply(seen_h1(event), time.monotonic() - t0)

    return _run(exchange, sock, res)


def _run(exchange, sock, res: RawResult) -> RawResult:
    """Run one exchange on `sock`; the socket's own ends (RST, our timeout) go into `res`."""
    t0 = time.monotonic()
    try:
        exchange(t0)
    except h11.RemoteProtocolError:
        res.end = "eof"  # EOF before the message was complete: a clean FIN mid-response
    except (ConnectionResetError, BrokenPipeError) as exc:
        res.end, res.errno = "reset", exc.errno
    except TimeoutError:
        res.end = "timeout"
    finally:
        res.t_end = time.monotonic() - t0
        sock.close()
    return res


def h2_request(addr, method: str = "POST", path: str = "/v1/messages", body: bytes = b"",
               headers: dict[str, str] | None = None, *, ca: str | None = None,
               timeout: float = 10.0, window: int | None = None, ack: bool = True) -> RawResult:
    """One HTTP/2 request: h2c with prior knowledge, or h2 over TLS when `ca` is given.

    ``window`` sets our INITIAL_WINDOW_SIZE; ``ack=False`` never returns flow-control
    credit (a client that stopped reading, as seen by the server). The body is sent as
    the server's flow-control windows allow (any size); if the server ends or resets the
    stream first (e.g. 413), the rest of the body is not sent.
    """
    res = RawResult()
    sock, res.alpn = _connect(addr, ca, ("h2",), timeout)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                 header_encoding="utf-8"))
    if window is not None:  # as current (not pending) values, so the preface carries them
        conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    fields = [(":method", method), (":path", path), (":scheme", "https" if ca else "http"),
              (":authority", f"{addr[0]}:{addr[1]}")]
    fields += list(_merge(dict(API_HEADERS), headers).items())
    conn.send_headers(sid, fields, end_stream=not body)
    upload = _H2Upload(conn, sid, body)
    upload.pump()

    def exchange(t0: float) -> None:
        sock.sendall(conn.data_to_send())
        while not res.end:
            raw = sock.recv(65536)
            if not raw:
                res.end = "eof"
                break
            for event in conn.receive_data(raw):
                _on_h2_event(event, sid, conn, res, t0, ack)
            upload.pump()  # WINDOW_UPDATEs may have opened the window
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

    return _run(exchange, sock, res)


class _H2Upload:
    """The request body, sent in frames as the stream and connection windows allow."""

    def __init__(self, conn, sid: int, body: bytes):
        self.conn, self.sid, self.rest = conn, sid, memoryview(body)

    def pump(self) -> None:
        conn = self.conn
        try:
            while self.rest:
                n = min(len(self.rest), conn.local_flow_control_window(self.sid),
                        conn.max_outbound_frame_size)
                if n <= 0:
                    return
                conn.send_data(self.sid, bytes(self.rest[:n]), end_stream=n == len(self.rest))
                self.rest = self.rest[n:]
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self.rest = memoryview(b"")  # the server closed or reset the stream: stop


def _on_h2_event(event, sid: int, conn, res: RawResult, t0: float, ack: bool) -> None:
    seen = seen_h2(event, sid)
    res.apply(seen, time.monotonic() - t0)
    if seen is not None and seen.flow and ack:
        conn.acknowledge_received_data(seen.flow, sid)
