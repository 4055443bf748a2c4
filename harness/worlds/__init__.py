"""Worlds: one module per hypothesis holding, side by side, its world factory (field
defaults, scaled by time_scale), its prediction table (PREDICTIONS) and its per-probe
expectation (expect). Worlds are data (model.World) in field units; compile.py makes them
the lab's, and harness/lab/runtime.RunningWorld runs one.
"""

from . import control, field, h1, h2, h3, h4, h5
from .model import ProbeSpec, World

MODULES = {"control": control, "h1": h1, "h2": h2, "h3": h3, "h4": h4, "h5": h5, "field": field}
# the hypotheses' declared interface (worlds/hypothesis.py): what the engine judges
HYPOTHESES = {m.HYPOTHESIS.name: m.HYPOTHESIS for m in (control, h1, h2, h3, h4, h5)}


def by_name(name: str) -> World:
    """A built-in world by name: control, h1 (= h1-stream-limit), h1-idle, h1-size-duration,
    h1-keepalive-idle, h2, h3, h4, h5, field."""
    if name.startswith("h1-"):
        return h1.world(name[3:].replace("-", "_"))
    if name in MODULES:
        return MODULES[name].world()
    raise ValueError(f"world: got {name!r}; allowed one of {', '.join(NAMES)}")


NAMES = ("control", "h1-stream-limit", "h1-idle", "h1-size-duration", "h1-keepalive-idle", "h2", "h3", "h4",
         "h5", "field")


def module_of(world: World):
    return MODULES[world.hypothesis]


__all__ = ["HYPOTHESES", "MODULES", "NAMES", "ProbeSpec", "World", "by_name", "module_of"]
