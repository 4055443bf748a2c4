"""Names of everything resetlab creates.

Every namespace, interface and nft table carries the project prefix and a per-run
id, so parallel pytest-xdist workers never collide and `python -m netem cleanup`
can tell our leftovers from anything else on the machine.
"""

from __future__ import annotations

import re
import secrets

PREFIX = "rl"
RUN_ID_LEN = 6  # hex chars; "rl-" + id + "-" leaves 5 chars of IFNAMSIZ (15) for a tag
IFNAMSIZ = 15

_RUN_ID_RE = re.compile(rf"^[0-9a-f]{{{RUN_ID_LEN}}}$")
NETNS_RE = re.compile(rf"^{PREFIX}-(?P<run>[0-9a-f]{{{RUN_ID_LEN}}})-(?P<host>[a-z0-9-]+)$")
IFNAME_RE = re.compile(rf"^{PREFIX}-(?P<run>[0-9a-f]{{{RUN_ID_LEN}}})-")
NFT_TABLE_RE = re.compile(rf"^{PREFIX}_(?P<run>[0-9a-f]{{{RUN_ID_LEN}}})_")


def new_run_id() -> str:
    return secrets.token_hex(RUN_ID_LEN // 2)


def check_run_id(run_id: str) -> str:
    if not _RUN_ID_RE.match(run_id):
        raise ValueError(f"run_id: got {run_id!r}; allowed {RUN_ID_LEN} lowercase hex chars")
    return run_id


def netns_name(run_id: str, host: str) -> str:
    return f"{PREFIX}-{run_id}-{host}"


def ifname(run_id: str, tag: str) -> str:
    name = f"{PREFIX}-{run_id}-{tag}"
    if len(name) > IFNAMSIZ:
        raise ValueError(f"interface tag: got {tag!r}; allowed at most {IFNAMSIZ - len(name) + len(tag)} chars")
    return name


def nft_table(run_id: str, purpose: str) -> str:
    return f"{PREFIX}_{run_id}_{purpose}"


def run_of_netns(name: str) -> str | None:
    m = NETNS_RE.match(name)
    return m.group("run") if m else None
