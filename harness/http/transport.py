"""Byte transports over a raw trio socket: cleartext, and TLS via ssl.MemoryBIO.

Why not trio.SocketStream / trio.SSLStream: a fault injector needs (1) the raw socket,
to set SO_LINGER(1,0) or shutdown(SHUT_WR) at an exact moment, and (2) sends that can
be interrupted by a deadline without losing track of what was sent, so time-based
faults can fire while a slow reader keeps the socket buffer full. trio's socket
``send`` is cancel-safe (cancelled = nothing sent); SSLStream.send_all is not.

Writes are queued (``queue`` returns a byte mark) and a per-connection ``flusher`` task
pushes them to the kernel in order; writers wait for their mark with a deadline
(``wait_sent``). So protocol code never blocks in the middle of producing frames, and
several HTTP/2 streams can share one connection.
"""

from __future__ import annotations

import math
import os
import socket
import ssl
import struct

import trio


class Transport:
    tls = False

    def __init__(self, sock: trio.socket.SocketType):
        self.sock = sock
        self._out = bytearray()
        self.queued_total = 0
        self.sent_total = 0
        self.error: BaseException | None = None
        self.closed = False
        self._wake = trio.Event()  # new data queued
        self._progress = trio.Event()  # bytes sent (or error)

    # --- writing --------------------------------------------------------------------
    def queue(self, data: bytes) -> int:
        """Queue bytes for sending; returns the mark to pass to wait_sent.

        Write-through: when nothing is queued ahead, the bytes go to the (non-blocking)
        socket at once and only what the kernel does not take waits for the flusher.
        That saves the flusher round trip (two scheduler passes) per SSE event.
        """
        if not data:
            return self.queued_total
        self.queued_total += len(data)
        if not self._out and not self.closed and self.error is None:
            try:
                sent = os.write(self.sock.fileno(), data)
            except BlockingIOError:
                sent = 0
            except OSError:
                sent = 0  # the flusher will meet the same error and record it
            if sent:
                # No _notify(): with nothing queued ahead, nobody waits for an earlier mark.
                self.sent_total += sent
                if sent == len(data):
                    return self.queued_total
                data = data[sent:]
        self._out += data
        self._wake.set()
        return self.queued_total

    async def wait_sent(self, mark: int, deadline: float = math.inf) -> bool:
        """True once everything up to `mark` is in the kernel; False at the deadline.

        Bytes already in the kernel (written through): a yield to the other tasks, but not
        a cancellation point - once a response is out, cancelling cannot un-send it.
        Writers check for cancellation before they write (Injector.send).
        """
        if self.sent_total >= mark:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return True
        with trio.move_on_at(deadline):
            while self.sent_total < mark:
                if self.error is not None or self.closed:
                    raise trio.BrokenResourceError("connection closed") from self.error
                await self._progress.wait()
            return True
        return False

    async def flusher(self) -> None:
        """Task: push queued bytes to the kernel, in order, until the socket dies."""
        try:
            while not self.closed:
                if not self._out:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                sent = await self.sock.send(self._out[:1 << 20])
                del self._out[:sent]
                self.sent_total += sent
                self._notify()
        except (OSError, trio.ClosedResourceError) as exc:
            self.error = exc
            self._notify()

    def _notify(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    # --- reading --------------------------------------------------------------------
    async def recv(self, deadline: float = math.inf) -> bytes | None:
        """Received bytes; b"" at EOF or error; None when the deadline passed first."""
        with trio.move_on_at(deadline):
            try:
                return await self.sock.recv(65536)
            except (OSError, trio.ClosedResourceError):
                return b""
        return None

    # --- closing --------------------------------------------------------------------
    def reset(self) -> None:
        """Abortive close: RST now, unsent data discarded (SO_LINGER on, timeout 0)."""
        if self.closed:
            return
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_now()

    def close_now(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.sock.close()  # also wakes any task blocked on this socket
        self._wake.set()
        self._notify()

    async def shutdown_write(self, timeout: float = 2.0) -> None:
        """Flush what is queued (bounded), then send FIN."""
        await self.wait_sent(self.queued_total, trio.current_time() + timeout)
        if not self.closed:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    async def close(self, linger: float = 2.0) -> None:
        """Graceful close: flush, FIN, then read and discard until the peer closes.

        Closing a socket with unread bytes in its receive queue makes Linux send RST
        instead of FIN; draining first keeps "close" and "reset" distinguishable.
        """
        if self.closed:
            return
        with trio.move_on_after(linger + 1):
            await self.shutdown_write(linger)
            with trio.move_on_after(linger):
                while await Transport.recv(self):  # raw bytes, even under TLS
                    pass
        if not self.closed:
            self.close_now()


class TlsTransport(Transport):
    """TLS done by hand with ssl.MemoryBIO so the socket stays ours (see module doc)."""

    tls = True

    def __init__(self, sock: trio.socket.SocketType, context: ssl.SSLContext):
        super().__init__(sock)
        self._in = ssl.MemoryBIO()
        self._outbio = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(self._in, self._outbio, server_side=True)

    def _pull(self) -> int:
        return Transport.queue(self, self._outbio.read())

    def queue(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = self.ssl.write(view)
            view = view[n:]
        return self._pull()

    async def handshake(self, timeout: float = 10.0) -> str | None:
        """Complete the TLS handshake; returns the ALPN protocol chosen (or None)."""
        with trio.fail_after(timeout):
            while True:
                try:
                    self.ssl.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await self.wait_sent(self._pull())
                    data = await self.sock.recv(65536)
                    if not data:
                        raise ConnectionError("EOF during TLS handshake") from None
                    self._in.write(data)
            await self.wait_sent(self._pull())
        return self.ssl.selected_alpn_protocol()

    async def recv(self, deadline: float = math.inf) -> bytes | None:
        while True:
            try:
                data = self.ssl.read(65536)
                self._pull()  # reading can produce records to send (e.g. key update)
                return data
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLError):
                return b""
            raw = await super().recv(deadline)
            if raw is None:
                return None
            if not raw:
                return b""
            self._in.write(raw)

    async def shutdown_write(self, timeout: float = 2.0) -> None:
        if not self.closed:
            try:
                self.ssl.unwrap()  # queue close_notify; the peer's reply is not awaited
            except ssl.SSLError:
                pass
            self._pull()
        await super().shutdown_write(timeout)
