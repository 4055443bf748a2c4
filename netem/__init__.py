"""resetlab's network layer: namespaces, shaped links, a NAT router, outages, cleanup.

Exports are loaded lazily so that small entry points (the delay line process above all)
start without importing pyroute2 and trio.
"""

import importlib

_EXPORTS = {
    "ConfigError": "errors", "GilbertElliott": "profile", "LinkProfile": "profile",
    "LinkShape": "profile", "ConntrackTimeouts": "spec", "Host": "spec", "Link": "spec",
    "Nat": "spec", "TopologySpec": "spec", "chain": "spec", "Topology": "topology",
    "OutageSchedule": "outage", "Window": "outage",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'netem' has no attribute {name!r}")
