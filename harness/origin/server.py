"""The listener: accept, pick the protocol, run it, close the connection the right way.

Protocol choice: with TLS, ALPN decides (h2 -> HTTP/2, anything else -> HTTP/1.1);
in cleartext, a connection whose first 24 bytes are the HTTP/2 client preface
(``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n``) is h2c with prior knowledge, else HTTP/1.1.

How a connection ends follows the protocol handler's ``closing``: after a tcp_rst
nothing is left to do; otherwise a graceful close (flush, FIN, drain, close) so the
client sees FIN, never an accidental RST.
"""

from __future__ import annotations

import math
import socket
import ssl
import sys
import traceback

import trio

from harness.http.http1 import H1Connection
from harness.http.http2 import H2Connection
from harness.http.transport import TlsTransport, Transport

from .config import OriginConfig, OriginInfo, OriginState

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HANDSHAKE_TIMEOUT = 10.0


async def serve_origin(config: OriginConfig, *, handler=None,
                       task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run an origin until cancelled. ``await nursery.start(serve_origin, cfg)`` -> OriginInfo.

    ``handler(exchange, state)`` serves each request (default: the mock Messages API); the
    built-in edge passes its relay here and so shares every protocol driver with the origin.
    """
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    listener = trio.socket.socket(family, socket.SOCK_STREAM)
    state = None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await listener.bind((config.host, config.port))
        listener.listen(512)
        host, port = listener.getsockname()[:2]
        state = OriginState(config, host, handler)
        info = OriginInfo(host=host, port=port, scheme="https" if config.tls else "http",
                          ca_path=state.tls.ca_path if state.tls else None,
                          log_path=config.log_path, records=state.log.records)
        async with trio.open_nursery() as nursery:
            task_status.started(info)
            while True:
                sock, addr = await listener.accept()
                nursery.start_soon(_serve_connection, sock, addr, state)
    finally:
        listener.close()
        if state is not None:
            state.close()


async def _serve_connection(sock: trio.socket.SocketType, addr, state: OriginState) -> None:
    conn_id = state.next_conn_id()
    client = (addr[0], addr[1])
    try:
        # SSE events are small and latency is the point: never hold them back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    transport = TlsTransport(sock, state.tls.server_context) if state.tls else Transport(sock)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(transport.flusher)
            try:
                await _run_protocol(transport, state, nursery, conn_id, client)
            except (OSError, ssl.SSLError, trio.BrokenResourceError, trio.ClosedResourceError,
                    trio.TooSlowError):
                pass  # the client misbehaved or vanished: nothing to answer
            finally:
                nursery.cancel_scope.cancel()
    except Exception:
        traceback.print_exc(file=sys.stderr)
    finally:
        transport.close_now()  # no-op if already closed gracefully or by a fault


async def _run_protocol(transport: Transport, state: OriginState, nursery: trio.Nursery,
                        conn_id: int, client: tuple[str, int]) -> None:
    if isinstance(transport, TlsTransport):
        alpn = await transport.handshake(HANDSHAKE_TIMEOUT)
        initial = b""
        proto = "h2" if alpn == "h2" else "http/1.1"
    else:
        initial = await _sniff(transport)
        if not initial:
            await transport.close()
            return
        h2c = state.config.h2c and initial.startswith(H2_PREFACE)
        proto = "h2c" if h2c else "http/1.1"
    if proto == "http/1.1":
        conn = H1Connection(transport, state, nursery, conn_id, client)
    else:
        conn = H2Connection(transport, state, conn_id, client, proto)
    await conn.run(initial)
    if conn.closing != "rst":
        await transport.close()


async def _sniff(transport: Transport) -> bytes:
    """Read until the bytes either are the h2 preface or cannot become it (or EOF)."""
    buf = b""
    while len(buf) < len(H2_PREFACE) and H2_PREFACE.startswith(buf):
        data = await transport.recv(math.inf)
        if not data:
            break
        buf += data
    return buf
