"""A byte-for-byte snapshot of the host namespace's network state, to prove we never touch it."""

import os
import shutil
import subprocess

# counters and caches that change on their own, whoever runs
VOLATILE = ("nf_conntrack_count", "base_reachable_time", "route/gc_", "flush", "stable_secret",
            "netdev_rss_key", "neigh/")


def _run(argv):
    if not shutil.which(argv[0]):
        return f"<{argv[0]} not installed>"
    p = subprocess.run(argv, capture_output=True, text=True)
    return p.stdout + p.stderr


def _sysctls():
    out = []
    for root in ("/proc/sys/net/ipv4", "/proc/sys/net/ipv6/conf", "/proc/sys/net/netfilter", "/proc/sys/net/core"):
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                path = os.path.join(dirpath, f)
                if any(v in path for v in VOLATILE):
                    continue
                try:
                    with open(path) as fh:
                        out.append(f"{path}={fh.read().strip()}")
                except OSError:
                    continue
    return "\n".join(sorted(out))


def snapshot() -> dict[str, str]:
    return {
        "links": _run(["ip", "-d", "-o", "link", "show"]).replace("\\", ""),
        "addrs": _run(["ip", "-o", "addr", "show"]),
        "routes": _run(["ip", "route", "show", "table", "all"]),
        "rules": _run(["ip", "rule", "show"]),
        "qdiscs": _run(["tc", "qdisc", "show"]),
        "nft": _run(["nft", "list", "ruleset"]),
        "iptables": _run(["iptables-save"]),
        "sysctls": _sysctls(),
    }


def host_addresses() -> list[str]:
    out = _run(["ip", "-o", "-4", "addr", "show"])
    return [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in line]
