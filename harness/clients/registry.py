"""Client runners by name. Each module registers `run(probe) -> ProbeRecord`."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from harness.outcome import ProbeRecord

from .probe import Probe

# name -> "module:function"; modules are imported on use (the Node/Claude Code runners
# need nothing from Python but must not slow the others down)
RUNNERS: dict[str, str] = {
    "raw": "harness.clients.raw:run",
    "python-sdk": "harness.clients.python_sdk:run",
    "node-sdk": "harness.clients.node_sdk:run",
    "claude-code": "harness.clients.claude_code:run",
    "curl": "harness.clients.curl:run",
}


def runner(name: str) -> Callable[[Probe], ProbeRecord]:
    if name not in RUNNERS:
        raise ValueError(f"client: got {name!r}; allowed one of {', '.join(RUNNERS)}")
    module, func = RUNNERS[name].split(":")
    return getattr(importlib.import_module(module), func)
