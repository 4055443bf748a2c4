"""The mock Messages API origin with a fault-plan engine (trio + h11 + h2, sans-IO).

Start it inside a trio nursery::

    info = await nursery.start(serve_origin, OriginConfig(plan=[...], stream={...}))
    info.url, info.address, info.ca_path, info.records

or from synchronous code with ``OriginThread`` / ``OriginProcess`` (runners.py), or from
a shell with ``python -m harness origin`` (cli.py documents the ready line).

Modules: sse (response + stream config), plan (fault plans), actions (fault actions
registry), injector (runs a plan against an exchange), api (routes/errors),
responses (error shapes/headers), server (listener), attempts (attempt numbering), reqlog
(request log), tls (test CA), config, runners, cli, testing (small raw clients for tests).
The protocol drivers, transports and Exchange are the shared HTTP core in harness/http/.
"""

# Loaded on first use (PEP 562): the edge imports only .validate, and an eager package
# would load the server, trio and h11/h2 into every edge process for nothing
_EXPORTS = {"OriginConfig": "config", "OriginInfo": "config", "parse_ready_line": "config",
            "parse_plan": "plan", "OriginProcess": "runners", "OriginThread": "runners",
            "serve_origin": "server", "StreamSpec": "sse", "parse_stream_spec": "sse",
            "SpecError": "validate"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
