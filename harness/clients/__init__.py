"""Clients that probe a target and report one ProbeRecord each.

Every client is a runner `run(probe: Probe) -> ProbeRecord`, registered by name in
RUNNERS (see registry.py): raw (our own trio + h11/h2 client, exact close reasons),
python-sdk, node-sdk, claude-code. `python -m harness client NAME ...` runs one probe
from the current network namespace and prints the record as one JSON line.
"""

from .probe import Probe

__all__ = ["Probe"]
