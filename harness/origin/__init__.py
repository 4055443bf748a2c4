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

from .config import OriginConfig, OriginInfo, parse_ready_line
from .plan import parse_plan
from .runners import OriginProcess, OriginThread
from .server import serve_origin
from .sse import StreamSpec, parse_stream_spec
from .validate import SpecError

__all__ = ["OriginConfig", "OriginInfo", "OriginProcess", "OriginThread", "SpecError",
           "StreamSpec", "parse_plan", "parse_ready_line", "parse_stream_spec", "serve_origin"]
