"""Declarative topology: hosts, links, an optional NAT; addresses and routes derived from it.

Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking space): link i gets
198.18.i.0/24 (then 198.19.x for i >= 256), its a-end .1 and b-end .2. Routes are
computed from the graph; there is deliberately no default route anywhere, so a world has
no path to any address outside itself.
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from dataclasses import dataclass, field

from .errors import ConfigError, check_choice, check_range
from .profile import LinkShape

NETWORK = ipaddress.ip_network("198.18.0.0/15")
HOST_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
STALE_BEHAVIOURS = ("new_mapping", "drop_invalid")


@dataclass(frozen=True)
class Host:
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not HOST_NAME_RE.match(self.name):
            raise ConfigError("Host.name", self.name, "1-12 chars of [a-z0-9], starting with a letter")


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    shape: LinkShape = field(default_factory=LinkShape)
    name: str = ""  # defaults to "a-b"

    @property
    def label(self) -> str:
        return self.name or f"{self.a}-{self.b}"


@dataclass(frozen=True)
class ConntrackTimeouts:
    """Per-namespace conntrack timeouts of the NAT router, in seconds (Linux defaults)."""

    established: float = 432000
    syn_sent: float = 120
    syn_recv: float = 60
    fin_wait: float = 120
    close_wait: float = 60
    last_ack: float = 30
    time_wait: float = 120
    close: float = 10
    unacknowledged: float = 300

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            check_range(f"ConntrackTimeouts.{name}", getattr(self, name), 1, 2**31 - 1, "seconds")

    def sysctls(self) -> dict[str, int]:
        # the kernel takes whole seconds; round up so a short timeout never becomes 0
        import math

        return {f"net.netfilter.nf_conntrack_tcp_timeout_{k}": max(1, math.ceil(getattr(self, k)))
                for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Nat:
    """Masquerade on `router` for traffic leaving through `outside` (a link label).

    stale: what happens to a packet of a flow whose mapping was evicted —
    `new_mapping` (conntrack picks it up again, fully-random gives it a new source port,
    the server answers RST) or `drop_invalid` (tcp_loose=0 + drop ct invalid: a blackhole).
    """

    router: str
    outside: str
    timeouts: ConntrackTimeouts = field(default_factory=ConntrackTimeouts)
    stale: str = "new_mapping"
    fully_random: bool = True

    def __post_init__(self) -> None:
        check_choice("Nat.stale", self.stale, STALE_BEHAVIOURS)


@dataclass(frozen=True)
class Interface:
    host: str
    link: str
    tag: str  # short suffix for the interface name
    address: ipaddress.IPv4Interface
    peer_host: str
    peer_address: ipaddress.IPv4Address


@dataclass(frozen=True)
class Route:
    host: str
    dest: ipaddress.IPv4Network
    via: ipaddress.IPv4Address
    link: str  # label of the first-hop link


@dataclass(frozen=True)
class TopologySpec:
    hosts: tuple[Host, ...]
    links: tuple[Link, ...]
    nat: Nat | None = None

    def __post_init__(self) -> None:
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise ConfigError("TopologySpec.hosts", names, "unique host names")
        labels = [lk.label for lk in self.links]
        if len(set(labels)) != len(labels):
            raise ConfigError("TopologySpec.links", labels, "unique link names")
        if len(self.links) > 500:
            raise ConfigError("TopologySpec.links", len(self.links), "at most 500 links")
        for lk in self.links:
            for end in (lk.a, lk.b):
                if end not in names:
                    raise ConfigError(f"Link {lk.label!r} end", end, "one of the hosts " + ", ".join(names))
            if lk.a == lk.b:
                raise ConfigError(f"Link {lk.label!r} end", lk.b, "a host other than its a-end")
        if self.nat is not None:
            check_choice("Nat.router", self.nat.router, tuple(names))
            check_choice("Nat.outside", self.nat.outside, tuple(labels))
            out = self.link(self.nat.outside)
            if self.nat.router not in (out.a, out.b):
                raise ConfigError("Nat.outside", self.nat.outside, f"a link attached to router {self.nat.router!r}")

    # -- lookups ---------------------------------------------------------------------------

    def link(self, label: str) -> Link:
        for lk in self.links:
            if lk.label == label:
                return lk
        raise ConfigError("link", label, "one of " + ", ".join(lk.label for lk in self.links))

    def subnet(self, label: str) -> ipaddress.IPv4Network:
        i = [lk.label for lk in self.links].index(label)
        return ipaddress.ip_network((int(NETWORK.network_address) + (i << 8), 24))

    def interfaces(self) -> list[Interface]:
        out = []
        for i, lk in enumerate(self.links):
            net = self.subnet(lk.label)
            a_ip, b_ip = net.network_address + 1, net.network_address + 2
            out.append(Interface(lk.a, lk.label, f"{i}a", ipaddress.ip_interface(f"{a_ip}/24"), lk.b, b_ip))
            out.append(Interface(lk.b, lk.label, f"{i}b", ipaddress.ip_interface(f"{b_ip}/24"), lk.a, a_ip))
        return out

    def interface(self, host: str, link: str) -> Interface:
        for itf in self.interfaces():
            if itf.host == host and itf.link == link:
                return itf
        raise ConfigError("interface", (host, link), "a host attached to that link")

    def address(self, host: str, link: str | None = None) -> ipaddress.IPv4Address:
        """The host's address (on `link`, or on its first link)."""
        for itf in self.interfaces():
            if itf.host == host and (link is None or itf.link == link):
                return itf.address.ip
        raise ConfigError("host", host, "a host with at least one link")

    def forwarders(self) -> set[str]:
        """Hosts with two or more links forward packets between them."""
        count: dict[str, int] = {}
        for lk in self.links:
            count[lk.a] = count.get(lk.a, 0) + 1
            count[lk.b] = count.get(lk.b, 0) + 1
        return {h for h, n in count.items() if n >= 2}

    # -- routing ---------------------------------------------------------------------------

    def _blocked(self, node: str, came_by: str, leave_by: str) -> bool:
        """A NAT does not route from its outside into its inside (that is the point of it)."""
        return bool(self.nat and node == self.nat.router and came_by == self.nat.outside
                    and leave_by != self.nat.outside)

    def routes(self) -> list[Route]:
        """Shortest-path static routes to every link subnet a host is not on."""
        itfs = self.interfaces()
        by_host: dict[str, list[Interface]] = {}
        for itf in itfs:
            by_host.setdefault(itf.host, []).append(itf)
        fwd = self.forwarders()
        routes = []
        for h in self.hosts:
            first_hop: dict[str, Interface] = {}  # link label reached -> first-hop interface
            seen_links = {itf.link for itf in by_host.get(h.name, [])}
            # BFS over (node, link we arrived by); start with neighbours of h
            queue: deque[tuple[str, str, Interface]] = deque()
            for itf in by_host.get(h.name, []):
                queue.append((itf.peer_host, itf.link, itf))
            visited = set()
            while queue:
                node, came_by, first = queue.popleft()
                if (node, came_by) in visited or node not in fwd:
                    continue
                visited.add((node, came_by))
                for itf in by_host.get(node, []):
                    if itf.link == came_by or self._blocked(node, came_by, itf.link):
                        continue
                    if itf.link not in seen_links and itf.link not in first_hop:
                        first_hop[itf.link] = first
                    queue.append((itf.peer_host, itf.link, first))
            for label, first in first_hop.items():
                routes.append(Route(h.name, self.subnet(label), first.peer_address, first.link))
        return routes

    def behind(self, host: str, label: str) -> list[ipaddress.IPv4Network]:
        """Prefixes `host` reaches through link `label` (the link's subnet included)."""
        return [self.subnet(label)] + [r.dest for r in self.routes() if r.host == host and r.link == label]

    def describe(self) -> str:
        lines = [f"hosts: {', '.join(h.name for h in self.hosts)}"]
        for lk in self.links:
            lines.append(f"link {lk.label}: {lk.a} {self.address(lk.a, lk.label)} <-> "
                         f"{lk.b} {self.address(lk.b, lk.label)} ({self.subnet(lk.label)})")
        if self.nat:
            lines.append(f"nat on {self.nat.router} out {self.nat.outside} stale={self.nat.stale} "
                         f"established={self.nat.timeouts.established}s")
        return "\n".join(lines)


def chain(*names: str, shapes: dict[str, LinkShape] | None = None, nat: Nat | None = None) -> TopologySpec:
    """A line of hosts: chain("client", "router", "server") -> client-router, router-server."""
    shapes = shapes or {}
    hosts = tuple(Host(n) for n in names)
    links = tuple(Link(a, b, shapes.get(f"{a}-{b}", LinkShape())) for a, b in zip(names, names[1:], strict=False))
    return TopologySpec(hosts, links, nat)
