"""Addresses and routes derived from a spec: no default routes, NAT blocks outside->inside."""

import ipaddress

from netem import Nat, chain

NET = ipaddress.ip_network("198.18.0.0/15")


def test_addresses_are_in_the_benchmark_range_and_unique():
    spec = chain("client", "router", "edge", "origin")
    addrs = [itf.address.ip for itf in spec.interfaces()]
    assert len(addrs) == len(set(addrs)) == 6
    assert all(a in NET for a in addrs)


def test_routes_reach_every_subnet_and_never_default():
    spec = chain("client", "router", "edge", "origin")
    routes = spec.routes()
    assert all(r.dest.prefixlen == 24 for r in routes)
    client = {str(r.dest): str(r.via) for r in routes if r.host == "client"}
    assert client == {"198.18.1.0/24": "198.18.0.2", "198.18.2.0/24": "198.18.0.2"}
    origin = {str(r.dest) for r in routes if r.host == "origin"}
    assert origin == {"198.18.0.0/24", "198.18.1.0/24"}


def test_nat_hides_the_inside_from_the_outside():
    spec = chain("client", "router", "edge", "origin", nat=Nat("router", "router-edge"))
    routes = spec.routes()
    origin = {str(r.dest) for r in routes if r.host == "origin"}
    assert "198.18.0.0/24" not in origin  # the client's subnet is behind the NAT
    client = {str(r.dest) for r in routes if r.host == "client"}
    assert client == {"198.18.1.0/24", "198.18.2.0/24"}


def test_forwarders_are_hosts_with_two_links():
    assert chain("a", "b", "c", "d").forwarders() == {"b", "c"}
