"""resetlab's network layer: namespaces, shaped links, a NAT router, outages, cleanup."""

from .errors import ConfigError
from .outage import OutageSchedule, Window
from .profile import GilbertElliott, LinkProfile, LinkShape
from .spec import ConntrackTimeouts, Host, Link, Nat, TopologySpec, chain
from .topology import Topology

__all__ = [
    "ConfigError", "ConntrackTimeouts", "GilbertElliott", "Host", "Link", "LinkProfile",
    "LinkShape", "Nat", "OutageSchedule", "Topology", "TopologySpec", "Window", "chain",
]
