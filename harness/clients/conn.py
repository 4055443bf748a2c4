"""The raw client's connection: a trio socket it owns, TLS over ssl.MemoryBIO, read pacing.

Why not trio.SocketStream / SSLStream: the probe must report exactly how a connection
ended. With TLS done over ``ssl.MemoryBIO`` the raw ``recv`` is ours, so a TCP RST under
TLS surfaces as ``ConnectionResetError`` (an ``SSLSocket`` would report a "ragged EOF"),
and a FIN / close_notify as ``b""``. Owning the socket also lets the probe set keepalive
and buffer sizes before connecting, and read slowly on purpose (``Pacer``).

Writes are queued (``queue``) and pushed by one ``writer`` task, so protocol code never
blocks while producing bytes and a big upload can go on while responses are read. A write
error is kept (``send_error``) and raised by the next ``recv`` that sees the end of the
connection: after an RST Linux reports ECONNRESET once, to whichever call asks first.
"""

from __future__ import annotations

import fcntl
import math
import socket
import ssl
import struct
import termios

import trio

TLS_READ = 65536


class Deadline(Exception):
    """A deadline passed while connecting (TCP or TLS handshake)."""


class HandshakeEOF(ConnectionError):
    """The peer closed the connection during the TLS handshake."""


class Pacer:
    """Slow consumer: at most ``rate`` bytes/s from the socket, plus scheduled pauses.

    ``pauses`` are (at, seconds) in trio clock time: stop reading at ``at`` for ``seconds``.
    The token bucket keeps at most ``burst`` seconds of unused credit, so a slow server
    does not earn the client a later burst.
    """

    def __init__(self, rate: float | None, pauses: list[tuple[float, float]], burst: float = 0.25):
        self.rate = rate
        self.pauses = sorted(pauses)
        self.burst = burst
        self.next_at = -math.inf
        self.chunk = max(512, min(16384, int(rate / 10))) if rate else TLS_READ

    def next_pause(self) -> float:
        return self.pauses[0][0] if self.pauses else math.inf

    async def before_read(self) -> None:
        while True:
            now = trio.current_time()
            if self.pauses and self.pauses[0][0] <= now:
                _, seconds = self.pauses.pop(0)
                await trio.sleep(seconds)
                continue
            if self.rate and self.next_at > now:
                await trio.sleep_until(min(self.next_at, self.next_pause()))
                continue
            return

    def consumed(self, n: int) -> None:
        if self.rate:
            now = trio.current_time()
            self.next_at = max(self.next_at, now - self.burst) + n / self.rate


class Conn:
    def __init__(self, sock: trio.socket.SocketType, raw: socket.socket):
        self.sock = sock
        self.raw = raw  # the same fd as a stdlib socket, for the writer's plain send()
        self.ssl: ssl.SSLObject | None = None
        self._in: ssl.MemoryBIO | None = None
        self._outbio: ssl.MemoryBIO | None = None
        self.pacer: Pacer | None = None
        self.alpn: str | None = None
        self.close_notify = False  # the TLS peer sent close_notify before its FIN
        self.send_error: OSError | None = None
        self.bytes_in = 0  # raw bytes read from the socket
        self._out = bytearray()
        self._wake = trio.Event()
        self.closed = False

    # --- opening --------------------------------------------------------------------
    @classmethod
    async def connect(cls, host: str, port: int, *, deadline: float, configure=None) -> Conn:
        """TCP connect before ``deadline``; raises Deadline, or OSError (e.g. ECONNREFUSED).

        ``configure(sock)`` runs before connect (keepalive, SO_RCVBUF must precede the
        handshake to shape the advertised window)."""
        with trio.move_on_at(deadline):
            infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            family, type_, proto, _, addr = infos[0]
            raw = socket.socket(family, type_, proto)
            sock = trio.socket.from_stdlib_socket(raw)  # same fd; also sets non-blocking
            try:
                if configure is not None:
                    configure(sock)
                await sock.connect(addr)
            except BaseException:
                sock.close()
                raise
            return cls(sock, raw)
        raise Deadline()

    async def start_tls(self, ctx: ssl.SSLContext, hostname: str, deadline: float) -> str | None:
        """TLS handshake before ``deadline``; returns the ALPN protocol (or None).

        Raises Deadline, HandshakeEOF, OSError (a reset) or ssl.SSLError (e.g. the
        certificate is not trusted)."""
        with trio.move_on_at(deadline):
            await self._handshake(ctx, hostname)
            return self.alpn
        raise Deadline()

    async def _handshake(self, ctx: ssl.SSLContext, hostname: str) -> None:
        self._in, self._outbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.ssl = ctx.wrap_bio(self._in, self._outbio, server_hostname=hostname)
        while True:
            try:
                self.ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._send_now(self._outbio.read())
                data = await self.sock.recv(TLS_READ)
                if not data:
                    raise HandshakeEOF("EOF during the TLS handshake") from None
                self._in.write(data)
        await self._send_now(self._outbio.read())
        self.alpn = self.ssl.selected_alpn_protocol()

    async def _send_now(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = await self.sock.send(view)
            view = view[n:]  # (handshake only: before the writer task exists)

    # --- writing --------------------------------------------------------------------
    def queue(self, data: bytes) -> None:
        if not data or self.closed:
            return
        if self.ssl is not None:
            view = memoryview(data)
            while view:
                n = self.ssl.write(view)
                view = view[n:]
            data = self._outbio.read()
        self._out += data
        self._wake.set()

    def _pull_tls(self) -> None:
        """Records produced while reading (e.g. a TLS key update answer) go out too."""
        if self.ssl is not None and self._outbio.pending:
            self._out += self._outbio.read()
            self._wake.set()

    async def writer(self) -> None:
        """Task: push queued bytes to the kernel in order; keep the first error.

        The send is the plain non-blocking syscall, not trio's ``sock.send``: trio yields
        to the scheduler between a failed syscall and raising its error, and in that gap
        the reader could see the EOF that follows an RST without knowing that the send
        had already taken the ECONNRESET.
        """
        raw = self.raw
        try:
            while not self.closed:
                if not self._out:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                try:
                    n = raw.send(self._out[:1 << 18])
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(raw)
                    continue
                del self._out[:n]
        except OSError as exc:
            if not self.closed:
                self.send_error = exc
        except trio.ClosedResourceError:
            pass

    @property
    def unsent(self) -> int:
        return len(self._out)

    def upload_pending(self) -> int:
        """Bytes written and not yet acknowledged by the peer: ours still queued plus the
        kernel's send queue (SIOCOUTQ: unsent and unacknowledged; 0 where it cannot tell)."""
        try:
            outq = struct.unpack("i", fcntl.ioctl(self.raw.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except (OSError, ValueError):
            outq = 0
        return len(self._out) + outq

    # --- reading --------------------------------------------------------------------
    async def recv(self, deadline: float = math.inf, idle: float | None = None) -> bytes | None:
        """Plaintext bytes; b"" at EOF (FIN or close_notify); None when the deadline passed.

        ``deadline`` is absolute; ``idle`` is measured only while waiting on the socket
        (time spent pacing or pausing on purpose is ours, not the peer's).
        Raises OSError (ConnectionResetError, ...) as the socket reports it, and
        ssl.SSLError for a broken TLS stream.
        """
        while True:
            if self.ssl is not None:
                try:
                    data = self.ssl.read(TLS_READ)
                    self._pull_tls()
                    if data:
                        return data
                except ssl.SSLWantReadError:
                    self._pull_tls()
                except ssl.SSLZeroReturnError:
                    self.close_notify = True
                    return b""
            raw = await self._recv_raw(deadline, idle)
            if raw is None:
                return None
            if not raw:
                if self.send_error is not None:
                    raise self.send_error
                return b""
            if self.ssl is None:
                return raw
            self._in.write(raw)

    async def _recv_raw(self, deadline: float, idle: float | None) -> bytes | None:
        pacer = self.pacer
        while True:
            if pacer is not None:
                await pacer.before_read()
            now = trio.current_time()
            wait_until = min(deadline, now + idle) if idle is not None else deadline
            if now >= wait_until:
                return None
            wake = pacer.next_pause() if pacer is not None else math.inf
            limit = pacer.chunk if pacer is not None else TLS_READ
            with trio.move_on_at(min(wait_until, wake)):
                data = await self.sock.recv(limit)
                self.bytes_in += len(data)
                if pacer is not None:
                    pacer.consumed(len(data))
                return data
            if trio.current_time() >= wait_until:
                return None
            # else a pause is due: before_read() takes it, then the idle clock restarts

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()
            self._wake.set()
