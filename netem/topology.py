"""A running topology: namespaces, veths, addresses, routes, NAT and shaping, as one
context manager. Everything it creates is released on success, exception, Ctrl-C and
SIGTERM; a SIGKILLed owner's leftovers go within moments, swept by the run's reaper
(netem/reaper.py), and `python -m netem cleanup` remains for anything older.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pyroute2 import IPRoute

from . import names, nat, nsexec, reaper, shaping
from .registry import RunRecord
from .spec import TopologySpec
from .vm import startup_factor

# generous socket buffers: a 100 ms link at >1 Gbit/s needs tens of MB in flight
TCP_MEM = "4096 262144 67108864"
READY_TIMEOUT = 10.0


class Host:
    """One network namespace of a running topology."""

    def __init__(self, topo: Topology, name: str):
        self.topo, self.name = topo, name
        self.netns = names.netns_name(topo.run_id, name)
        self.netns_path = nsexec.netns_path(self.netns)

    @property
    def address(self) -> str:
        return str(self.topo.spec.address(self.name))

    def address_on(self, link: str) -> str:
        return str(self.topo.spec.address(self.name, link))

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run fn(*args, **kwargs) inside this host's namespace and return its result."""
        return nsexec.call_in(self.netns, fn, *args, **kwargs)

    def socket(self, family: int, type_: int, proto: int = 0):
        """A socket created inside this host (usable from any thread afterwards)."""
        return nsexec.socket_in(self.netns, family, type_, proto)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start a process inside this host; the topology ends it (by pid) on close."""
        return self.topo._track(nsexec.popen_in(self.netns, argv, **kwargs))

    def sysctl(self, key: str, value: str | int | None = None) -> str:
        if value is not None:
            nsexec.sysctl_write(self.netns, key, value)
        return nsexec.sysctl_read(self.netns, key)

    def netlink(self, fn: Callable[[IPRoute], Any]) -> Any:
        """fn(ipr) with an rtnetlink socket of this host's namespace, in a thread inside it.

        pyroute2's IPRoute keeps one socket per *thread* (created lazily in whatever
        namespace that thread is in), and IPRoute(netns=...) forks helper processes;
        a short-lived IPRoute in a thread that entered the namespace avoids both.
        """

        def run() -> Any:
            with IPRoute() as ipr:
                return fn(ipr)

        return self.call(run)

    def ifname(self, link: str) -> str:
        return names.ifname(self.topo.run_id, self.topo.spec.interface(self.name, link).tag)

    def set_link(self, link: str, up: bool) -> None:
        name = self.ifname(link)
        self.netlink(lambda ipr: ipr.link("set", index=ipr.link_lookup(ifname=name)[0],
                                          state="up" if up else "down"))

    def wait_carrier(self, ifname: str, timeout: float = 2.0) -> None:
        """A veth just set up may report no carrier for a moment."""

        def wait(ipr: IPRoute) -> None:
            deadline = time.monotonic() + timeout
            while True:
                link = ipr.get_links(ifname=ifname)[0]
                if link.get("carrier") == 1 or link.get("operstate") == "UP":
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}:{ifname} has no carrier after {timeout}s")
                time.sleep(0.002)

        self.netlink(wait)


class Topology:
    def __init__(self, spec: TopologySpec, backend: str = "auto", run_id: str | None = None):
        self.spec = spec
        self.requested_backend = backend
        self.backend = shaping.resolve_backend(backend)
        self.run_id = names.check_run_id(run_id) if run_id else names.new_run_id()
        self.hosts = {h.name: Host(self, h.name) for h in spec.hosts}
        self.record = RunRecord(self.run_id, netns=[h.netns for h in self.hosts.values()])
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._old_sigterm = None
        self.delay_lines: dict[str, subprocess.Popen] = {}
        self.timings: dict[str, float] = {}
        self._created: list[str] = []
        self._reaper: subprocess.Popen | None = None

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> Topology:
        self._install_sigterm()
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def _install_sigterm(self) -> None:
        # SIGTERM (e.g. a CI timeout, xdist stopping a worker) would otherwise kill us
        # without running __exit__; turn it into SystemExit while the topology lives.
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._old_sigterm = signal.SIG_DFL

            def on_term(signum, frame):
                raise SystemExit(128 + signum)

            signal.signal(signal.SIGTERM, on_term)

    def _track(self, proc: subprocess.Popen) -> subprocess.Popen:
        with self._lock:
            self._procs.append(proc)
            self.record.pids.append(proc.pid)
            self.record.save()
        return proc

    # -- build ----------------------------------------------------------------------------

    def start(self) -> None:
        t0 = time.perf_counter()
        self.record.save()  # first: a kill from here on leaves a record to sweep
        self._reaper = reaper.start(self.run_id)  # ... which the reaper sweeps if we die
        fwd = self.spec.forwarders()
        for h in self.hosts.values():
            nsexec.create_netns(h.netns)
            self._created.append(h.netns)
            self._host_basics(h, forwarding=h.name in fwd)
        self._links()
        self._routes()
        channels = (shaping.userspace_plan(self.spec, self.run_id).channels
                    if self.backend == "userspace" and not all(lk.shape.is_neutral for lk in self.spec.links)
                    else [])
        if self.spec.nat:
            nat.apply(self, self.spec.nat, channels)
        self._shape()
        self.timings["setup_ms"] = (time.perf_counter() - t0) * 1000

    def _host_basics(self, h: Host, forwarding: bool) -> None:
        def configure() -> None:
            settings = {
                "net/ipv4/ip_forward": int(forwarding),
                "net/ipv4/conf/all/rp_filter": 0,
                "net/ipv4/conf/default/rp_filter": 0,
                "net/ipv4/tcp_rmem": TCP_MEM,
                "net/ipv4/tcp_wmem": TCP_MEM,
                # IPv4 only: no IPv6 router/neighbour chatter into the delay line (it would
                # draw from the loss RNG and break repeatability), and no v6 path anywhere
                "net/ipv6/conf/all/disable_ipv6": 1,
                "net/ipv6/conf/default/disable_ipv6": 1,
            }
            for key, value in settings.items():
                with open("/proc/sys/" + key, "w") as f:
                    f.write(str(value))

        h.call(configure)
        h.netlink(lambda ipr: ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up"))

    def _links(self) -> None:
        for lk in self.spec.links:
            a, b = self.hosts[lk.a], self.hosts[lk.b]
            a_if, b_if = a.ifname(lk.label), b.ifname(lk.label)
            # both ends are created straight inside their namespaces: nothing ever
            # appears in the host namespace, not even for a moment
            a.netlink(lambda ipr, a_if=a_if, b_if=b_if, peer_ns=b.netns_path: ipr.link(
                "add", ifname=a_if, kind="veth", peer={"ifname": b_if, "net_ns_fd": peer_ns}))
        for h in self.hosts.values():
            itfs = [i for i in self.spec.interfaces() if i.host == h.name]

            def configure(ipr: IPRoute, itfs=itfs) -> None:
                for itf in itfs:
                    idx = ipr.link_lookup(ifname=names.ifname(self.run_id, itf.tag))[0]
                    ipr.addr("add", index=idx, address=str(itf.address.ip),
                             prefixlen=itf.address.network.prefixlen)
                    ipr.link("set", index=idx, state="up")

            h.netlink(configure)
        for itf in self.spec.interfaces():
            self.hosts[itf.host].wait_carrier(names.ifname(self.run_id, itf.tag))

    def _routes(self) -> None:
        for h in self.hosts.values():
            mine = [r for r in self.spec.routes() if r.host == h.name]
            if mine:
                h.netlink(lambda ipr, mine=mine: [ipr.route("add", dst=str(r.dest), gateway=str(r.via))
                                                  for r in mine])

    def _shape(self) -> None:
        if all(lk.shape.is_neutral for lk in self.spec.links):
            return
        if self.backend == "kernel":
            shaping.install_netem_extensions()
            for req in shaping.kernel_plan(self.spec, self.run_id):
                self._tc(req)
            return
        plan = shaping.userspace_plan(self.spec, self.run_id)
        for req in plan.tbf:
            self._tc(req)
        routers = sorted({c.router for c in plan.channels})
        for router in routers:
            self._start_delay_line(router, [c for c in plan.channels if c.router == router])
        for router, rules in plan.rules.items():
            self.hosts[router].netlink(lambda ipr, rules=rules: [ipr.rule("add", **r) for r in rules])

    def _tc(self, req: shaping.TcRequest) -> None:
        self.hosts[req.host].netlink(lambda ipr: shaping.apply_tc(ipr, req))

    def _start_delay_line(self, router: str, channels: list[shaping.Channel]) -> None:
        h = self.hosts[router]
        h.sysctl("net.ipv4.conf.all.accept_local", 1)  # router-originated packets come back via tun
        cfg = {"channels": [{"ifname": c.tun, "profile": c.profile.to_dict()} for c in channels]}
        # -S: the delay line needs only the stdlib and this package (found from cwd); skipping
        # site-packages' .pth hooks saves tens of ms of startup on every shaped world
        proc = h.popen([sys.executable, "-S", "-m", "netem.delayline", json.dumps(cfg)],
                       stdout=subprocess.PIPE, text=True, cwd=_project_root())
        self.delay_lines[router] = proc
        line = _readline_with_timeout(proc, READY_TIMEOUT * startup_factor())
        if line.strip() != "ready":
            raise RuntimeError(f"delay line in {router} did not start (said {line!r}, exit {proc.poll()})")

        def wire(ipr: IPRoute) -> None:
            for c in channels:
                idx = ipr.link_lookup(ifname=c.tun)[0]
                ipr.link("set", index=idx, state="up")
                # fail closed: if the delay line dies, its tun and route vanish; the blackhole stays
                ipr.route("add", dst="0.0.0.0/0", table=c.table, type="blackhole", priority=100)
                ipr.route("add", dst="0.0.0.0/0", table=c.table, oif=idx, priority=0)

        h.netlink(wire)

    # -- teardown -------------------------------------------------------------------------

    def close(self) -> None:
        t0 = time.perf_counter()
        for proc in reversed(self._procs):
            nsexec.stop_process(proc)
            if proc.stdout:
                proc.stdout.close()
        self._procs.clear()
        for ns in reversed(self._created):
            # removing a namespace destroys its veths, tun devices, qdiscs and nft tables
            for pid in nsexec.pids_in_netns(ns):
                _kill_stray(pid)
            nsexec.remove_netns(ns)
        self._created.clear()
        self.record.remove()
        if self._reaper is not None:
            reaper.release(self._reaper)
            self._reaper = None
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        self.timings["teardown_ms"] = (time.perf_counter() - t0) * 1000

    def describe(self) -> str:
        return f"run {self.run_id} backend {self.backend}\n" + self.spec.describe()


def _kill_stray(pid: int) -> None:
    """A process still inside one of our namespaces at close: ours by construction."""
    import os

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _readline_with_timeout(proc: subprocess.Popen, timeout: float) -> str:
    import select

    r, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if r else ""


def _project_root() -> str:
    import os

    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
