"""Test TLS material: a throwaway CA (trustme), a server context offering h2 + http/1.1.

Clients trust the origin by loading the CA certificate PEM written to ``ca_path``.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # trustme pulls in cryptography (~0.5 s): only TLS origins load it
    import trustme


@dataclass
class TlsMaterial:
    ca: trustme.CA
    server_context: ssl.SSLContext
    ca_path: str
    temp_dir: str | None = None  # made by us: removed when the origin stops


def make_tls(hostnames: Iterable[str], alpn: Iterable[str] = ("h2", "http/1.1"),
             ca_path: str | None = None, ca: trustme.CA | None = None) -> TlsMaterial:
    """Issue a server certificate for `hostnames` (IPs become IP SANs) from a test CA.

    Pass `ca` to share one CA between several servers (origin and edges of one world).
    """
    import trustme

    ca = ca or trustme.CA(organization_name="resetlab test CA")
    names = list(dict.fromkeys(h for h in hostnames if h))
    cert = ca.issue_cert(*names)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ctx.set_alpn_protocols(list(alpn))
    temp_dir = None
    if ca_path is None:
        temp_dir = tempfile.mkdtemp(prefix="resetlab-ca-")
        ca_path = os.path.join(temp_dir, "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    return TlsMaterial(ca=ca, server_context=ctx, ca_path=ca_path, temp_dir=temp_dir)


def client_context(ca_path: str, alpn: Iterable[str] = ("h2", "http/1.1")) -> ssl.SSLContext:
    """A client context that trusts only the test CA, offering the given ALPN protocols."""
    ctx = ssl.create_default_context(cafile=ca_path)
    ctx.set_alpn_protocols(list(alpn))
    return ctx
