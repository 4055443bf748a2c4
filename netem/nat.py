"""The NAT router: nft masquerade (fully-random by default) and per-namespace conntrack.

Stale-mapping behaviour once an established entry is evicted:
- new_mapping: nf_conntrack_tcp_loose=1 (default) picks the next mid-flow packet up as a
  new flow; fully-random masquerade gives it a new source port, and the server, which has
  no such connection, answers RST -> the client sees ECONNRESET.
- drop_invalid: loose=0 makes that packet INVALID and the forward chain drops it -> the
  flow blackholes (the client hangs until its own timeouts).
nft is driven through `nft -f -` inside the router's namespace (pyroute2's nftables
support is too partial for NAT); the table name carries the prefix and run id.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from . import names, nsexec
from .spec import Nat

if TYPE_CHECKING:
    from .topology import Topology


def ruleset(table: str, outside_if: str, nat: Nat, notrack: tuple[str, ...] = ()) -> str:
    random = " fully-random" if nat.fully_random else ""
    lines = [f"table ip {table} {{"]
    if notrack:
        names = ", ".join(f'"{n}"' for n in sorted(notrack))
        lines += ["  chain raw_prerouting {",
                  "    type filter hook prerouting priority raw; policy accept;",
                  f"    iifname {{ {names} }} notrack",
                  "  }"]
    lines += [
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f'    oifname "{outside_if}" masquerade{random}',
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    if nat.stale == "drop_invalid":
        lines.append("    ct state invalid drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def nft(netns: str, script: str) -> None:
    proc = nsexec.popen_in(netns, ["nft", "-f", "-"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(script, timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"nft in {netns} failed: {err.strip()}")


def notrack_interfaces(topo: Topology, nat: Nat, channels) -> tuple[str, ...]:
    """With a userspace delay line in the NAT router, a packet crosses the router's stack
    once per delay stage (veth -> tun -> tun -> veth). Conntrack and NAT must see each
    direction exactly once, at the boundary: outbound on the pass that leaves through the
    outside interface (else the NAT decision is taken on a pass leaving into a tun, where
    the masquerade rule does not match, and sticks), inbound on the pass that arrives from
    the outside interface (where the destination is un-NATed before routing). Every other
    pass is `notrack`.
    """
    mine = [c for c in channels if c.router == nat.router]
    if not mine:
        return ()
    router = topo.hosts[nat.router]
    out_feed = [c.tun for c in mine if c.link == nat.outside and c.direction == "out"]
    notrack = {c.tun for c in mine}
    for lk in topo.spec.links:
        if nat.router not in (lk.a, lk.b) or lk.label == nat.outside:
            continue
        veth = router.ifname(lk.label)
        inbound = [c.tun for c in mine if c.link == lk.label and c.direction == "in"]
        feeder = out_feed[0] if out_feed else (inbound[0] if inbound else veth)
        notrack |= {veth, *inbound}
        notrack.discard(feeder)
    return tuple(sorted(notrack))


def apply(topo: Topology, nat: Nat, channels=()) -> None:
    router = topo.hosts[nat.router]
    table = names.nft_table(topo.run_id, "nat")
    notrack = notrack_interfaces(topo, nat, channels)
    nft(router.netns, ruleset(table, router.ifname(nat.outside), nat, notrack))
    for key, value in nat.timeouts.sysctls().items():
        router.sysctl(key, value)
    router.sysctl("net.netfilter.nf_conntrack_tcp_loose", 0 if nat.stale == "drop_invalid" else 1)
