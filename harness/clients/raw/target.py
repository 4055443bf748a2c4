"""The raw client's target (URL -> host, port, TLS) and its socket options."""

from __future__ import annotations

import errno as errnos
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from netem.errors import ConfigError

from ..probe import Probe

CLIENT = "raw"
RESET_ERRNOS = (errnos.ECONNRESET, errnos.EPIPE)
PACED_RCVBUF = 16 * 1024
MAX_BODY_KEPT = 4 * 1024 * 1024  # non-SSE response bodies kept for parsing
H2_DEFAULT_WINDOW = 65535


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("resetlab")
    except Exception:  # not installed: running from a checkout
        return "0.1.0"


VERSION = _version()
USER_AGENT = f"resetlab-raw/{VERSION}"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    prefix: str  # path prefix of base_url, without a trailing slash
    protocol: str  # http1 | h2 | h2c (what the probe asks for)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    @classmethod
    def from_probe(cls, probe: Probe) -> Target:
        parts = urlsplit(probe.base_url)
        if not parts.hostname:
            raise ConfigError("Probe.base_url", probe.base_url, "an http:// or https:// URL with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError("Probe.base_url", probe.base_url, "a port in 1..65535") from None
        if probe.protocol == "h2" and parts.scheme != "https":
            raise ConfigError("Probe.protocol", probe.protocol,
                              "'h2' with an https:// base_url (use 'h2c' for cleartext)")
        if probe.protocol == "h2c" and parts.scheme != "http":
            raise ConfigError("Probe.protocol", probe.protocol,
                              "'h2c' with an http:// base_url (use 'h2' over TLS)")
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), probe.protocol)

    def tls_context(self, ca_path: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=ca_path)
        ctx.set_alpn_protocols(["h2", "http/1.1"] if self.protocol == "h2" else ["http/1.1"])
        return ctx


# --- socket options -----------------------------------------------------------------------

def _configure(probe: Probe):
    def configure(sock) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if probe.keepalive is not None:
            idle = max(1, round(probe.keepalive))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, round(probe.keepalive / 3)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        if probe.read_pace is not None or probe.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(probe.rcvbuf or PACED_RCVBUF))
        if probe.user_timeout:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(probe.user_timeout * 1000))
        if probe.congestion:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, probe.congestion.encode())

    return configure


def read_sockopts(sock) -> dict[str, Any]:
    """The options in effect, read back from the kernel."""
    def get(level, opt):
        try:
            return sock.getsockopt(level, opt)
        except OSError:
            return None

    out = {"keepalive": bool(get(socket.SOL_SOCKET, socket.SO_KEEPALIVE)),
           "keepidle": get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
           "keepintvl": get(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
           "keepcnt": get(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
           "rcvbuf": get(socket.SOL_SOCKET, socket.SO_RCVBUF),
           "nodelay": bool(get(socket.IPPROTO_TCP, socket.TCP_NODELAY)),
           "user_timeout_ms": get(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)}
    try:
        out["congestion"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16) \
            .split(b"\0", 1)[0].decode()
    except OSError:
        out["congestion"] = None
    return out
