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


def ruleset(table: str, outside_if: str, nat: Nat) -> str:
    random = " fully-random" if nat.fully_random else ""
    lines = [
        f"table ip {table} {{",
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


def apply(topo: Topology, nat: Nat) -> None:
    router = topo.hosts[nat.router]
    table = names.nft_table(topo.run_id, "nat")
    nft(router.netns, ruleset(table, router.ifname(nat.outside), nat))
    for key, value in nat.timeouts.sysctls().items():
        router.sysctl(key, value)
    router.sysctl("net.netfilter.nf_conntrack_tcp_loose", 0 if nat.stale == "drop_invalid" else 1)
