"""A world, running: namespaces and links (netem), the origin and the edge inside their
hosts, outages on their timeline; probes run from the client's namespace.

    with RunningWorld(world) as rw:
        record = rw.probe(ProbeSpec(size=1_000_000, duration=60))

Everything is released on exit (processes by pid, namespaces, outage faults lifted).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack

from harness import jsonl
from harness.clients.probe import Probe
from harness.outcome import ProbeRecord
from harness.worlds.compile import compile_world
from harness.worlds.model import ProbeSpec, World
from netem import Topology
from netem.outage import running
from netem.vm import startup_factor

ORIGIN_PORT, EDGE_PORT = 8000, 8080


class RunningWorld:
    def __init__(self, world: World, backend: str = "auto"):
        self.world = world
        self.lab = compile_world(world)  # every lab value (scaled) comes from here
        self.backend = backend
        self.topo: Topology | None = None
        self.base_url = ""
        self.workdir = ""
        self.origin_log = ""
        self.outage_log = None
        self._stack = ExitStack()

    def __enter__(self) -> RunningWorld:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        w, lab = self.world, self.lab
        self.workdir = tempfile.mkdtemp(prefix="rl-world-")
        self.topo = self._stack.enter_context(Topology(lab.topology(), backend=self.backend))
        origin = self.topo["origin"]
        self.origin_log = os.path.join(self.workdir, "origin.jsonl")
        args = ["origin", "--listen", f"{origin.address}:{ORIGIN_PORT}", "--stream", json.dumps(lab.origin_stream),
                "--log", self.origin_log]
        if lab.origin_plan:
            args += ["--plan", json.dumps(lab.origin_plan)]
        _start_server(origin, args)
        upstream = f"{origin.address}:{ORIGIN_PORT}"
        edge = self.topo["edge"]
        edge_addr = edge.address_on("nat-edge")
        if w.edge == "none":
            self.base_url = f"http://{upstream}"
        elif w.edge == "builtin":
            _start_server(edge, ["edge", "--listen", f"{edge_addr}:{EDGE_PORT}", "--upstream", upstream,
                                 "--policy", json.dumps(lab.edge_policy.to_dict()),
                                 "--log", os.path.join(self.workdir, "edge.jsonl")])
            self.base_url = f"http://{edge_addr}:{EDGE_PORT}"
        else:
            from harness.edge.real import RealEdge

            self._stack.enter_context(RealEdge(w.edge, lab.edge_policy, f"{edge_addr}:{EDGE_PORT}", upstream,
                                               host=edge))
            self.base_url = f"http://{edge_addr}:{EDGE_PORT}"
        schedule = lab.outage_schedule()
        if schedule is not None:
            self.outage_log = self._stack.enter_context(running(self.topo, schedule))

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- probing ----------------------------------------------------------------------------

    def client_probe(self, spec: ProbeSpec) -> Probe:
        return self.lab.probe(spec, self.base_url, self.origin_log)

    def probe(self, spec: ProbeSpec) -> ProbeRecord:
        """Run one probe from the client's namespace; the record names the world and backend."""
        from harness.clients.registry import runner

        run = runner(spec.client)
        if spec.tap:
            from harness import wire
            from netem.tap import Tap

            t0 = time.monotonic()
            with Tap(self.topo, flows=("client",)) as tap:
                record = self.topo["client"].call(run, self.client_probe(spec))
            wire.attach(record, tap, t0)  # the wire's view beside the client's; it decides where it can
        else:
            record = self.topo["client"].call(run, self.client_probe(spec))
        record.world = self.world.name
        record.backend = self.topo.backend
        asked = spec.to_dict()
        # the spec's factors win, except the canary: the client's report of it (a dict: alive,
        # ...) replaces the spec's "canary": True
        record.probe = {**asked, **{k: v for k, v in record.probe.items()
                                    if k not in asked or (k == "canary" and isinstance(v, dict))}}
        return record

    def origin_records(self) -> list[dict]:
        return jsonl.read(self.origin_log)


def _start_server(host, args: list[str], timeout: float = 20.0) -> subprocess.Popen:
    """`python -m harness ARGS` inside `host`; returns once it printed its ready line."""
    proc = host.popen([sys.executable, "-m", "harness", *args], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    import select

    deadline = time.monotonic() + timeout * startup_factor()  # longer in a TCG VM (netem vm)
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            line = proc.stdout.readline()
            if "listening on" in line:
                return proc
        if proc.poll() is not None:
            break
    raise RuntimeError(f"`harness {args[0]}` in {host.name} did not start: "
                       f"{proc.stderr.read() if proc.poll() is not None else 'timeout'}")
