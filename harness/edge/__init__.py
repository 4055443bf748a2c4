"""Edge proxies from one EdgePolicy: built-in (trio, exact), nginx and haproxy (Debian)."""

from .builtin import serve_edge
from .policy import EdgePolicy
from .real import RealEdge

__all__ = ["EdgePolicy", "RealEdge", "serve_edge"]
