"""One request/response exchange, independent of the HTTP version.

The API layer and the fault injector only talk to this interface; ``http1.py`` and
``http2.py`` implement it by driving an h11 / h2 protocol object over a Transport.
That split is what lets a fault action say "send RST_STREAM(code) now" or "RST the TCP
connection now" without knowing anything else about the request.

``until`` arguments: an awaitable-returning function ``op(deadline) -> bool`` is retried
by the injector until it returns True; each False (deadline hit) gives the fault plan a
chance to fire time-based rules while the exchange is blocked (flow control, a full
socket buffer, a slow upload).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

Op = Callable[[float], Awaitable[bool]]
Until = Callable[[Op], Awaitable[None]]


class Terminated(Exception):
    """A fault action ended the exchange (the response will not complete normally)."""

    def __init__(self, action: str):
        super().__init__(action)
        self.action = action


class ClientGone(Exception):
    """The client closed, reset, or cancelled the exchange."""


class Exchange(ABC):
    protocol: str  # "http/1.1" | "h2c" | "h2"
    method: str
    target: str  # request target including any query string
    headers: list[tuple[str, str]]  # lower-case names, in order
    client: tuple[str, int]
    conn_id: int
    stream_id: int | None = None
    headers_sent: bool = False
    body_complete: bool = False  # the whole request body has been received
    request_id: str = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @abstractmethod
    async def receive_body(self, deadline: float) -> bytes | None:
        """Next request-body chunk; b"" at end of body; None if the deadline passed."""

    @abstractmethod
    async def send_headers(self, status: int, headers: list[tuple[str, str]], until: Until) -> None: ...

    @abstractmethod
    async def send_data(self, data: bytes, until: Until) -> None: ...

    @abstractmethod
    async def end(self, until: Until) -> None:
        """Finish the response normally."""

    def response_delivered(self) -> bool:
        """The whole response (its last byte) is in the kernel: it ended normally."""
        return False

    @abstractmethod
    def abort_on_client_close(self) -> AbstractAsyncContextManager[None]:
        """While inside, a client close/reset cancels the body and raises ClientGone."""

    # --- fault primitives -------------------------------------------------------------
    @abstractmethod
    def tcp_rst(self) -> None:
        """SO_LINGER(1, 0) + close: the kernel sends RST and drops unsent data."""

    @abstractmethod
    async def fin(self) -> None:
        """Close our direction of the TCP connection now (FIN), mid-response."""

    async def h2_rst_stream(self, code: int) -> None:
        raise NotImplementedError

    async def h2_goaway(self, code: int, last_stream_id: int | None) -> None:
        raise NotImplementedError
