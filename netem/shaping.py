"""Link shaping backends behind one LinkProfile: `kernel` (tc netem + tbf) and `userspace`.

Both are planned as data first (what netlink requests, which delay-line channels and
policy rules) and applied second, so the kernel path can be checked by what it asks
netlink to do on a kernel that has no sch_netem.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

from . import names, nsexec
from .errors import ConfigError, check_choice
from .profile import LinkProfile
from .spec import TopologySpec

BACKENDS = ("auto", "kernel", "userspace")
TBF_BURST_MIN = 128 * 1024  # >= one GSO super-packet (64 KB), else tbf drops them all
TBF_LATENCY_MS = 100  # queueing allowed in tbf before tail drop
# The userspace delay line cannot add less than this faithfully: its own error is ~0.05-0.1 ms
# at the median and 0.2-0.4 ms at p99 when idle, and several ms under bulk load (`netem bench`
# in the README). A direction asking for less delay (and no loss) is left on the bare veth,
# ~0.02 ms, which is nearer what it asked than the delay line would be, and costs no CPU:
# a world's 5 ms access link at time scale 0.02 is 0.1 ms. The kernel backend applies any delay.
USERSPACE_RESOLUTION_MS = 0.5


@dataclass(frozen=True)
class TcRequest:
    """One `tc qdisc add`: the arguments handed to pyroute2's IPRoute.tc."""

    host: str
    ifname: str
    kind: str
    handle: str
    parent: str | None
    options: dict

    def kwargs(self) -> dict:
        kw = dict(self.options, handle=self.handle)
        if self.parent:
            kw["parent"] = self.parent
        return kw


def apply_tc(ipr, req: TcRequest) -> None:
    """Send one planned qdisc to netlink (ipr is an IPRoute in req.host's namespace)."""
    idx = ipr.link_lookup(ifname=req.ifname)[0]
    ipr.tc("add", req.kind, idx, **req.kwargs())


def tbf_options(profile: LinkProfile) -> dict:
    rate_bps = profile.rate_mbit * 1e6
    burst = max(TBF_BURST_MIN, int(rate_bps / 8 / 100))  # 10 ms of tokens or one super-packet
    return {"rate": f"{int(rate_bps)}bit", "burst": burst, "latency": f"{TBF_LATENCY_MS}ms"}


def netem_options(profile: LinkProfile) -> dict:
    opts: dict = {"delay": int(profile.delay_ms * 1000), "jitter": int(profile.jitter_ms * 1000),
                  "limit": profile.limit_packets, "seed": profile.seed}
    if profile.loss_pct:
        opts["loss"] = profile.loss_pct
    if profile.gilbert_elliott:
        ge = profile.gilbert_elliott
        opts["gemodel"] = {"p": ge.p, "r": ge.r, "h": ge.h_loss, "k": ge.k_loss}
    return opts


def kernel_plan(spec: TopologySpec, run_id: str) -> list[TcRequest]:
    """netem as root on the sending interface of each shaped direction, tbf under it for rate."""
    reqs = []
    for lk in spec.links:
        for sender, profile in ((lk.a, lk.shape.a_to_b), (lk.b, lk.shape.b_to_a)):
            if profile.is_neutral:
                continue
            ifname = names.ifname(run_id, spec.interface(sender, lk.label).tag)
            reqs.append(TcRequest(sender, ifname, "netem", "1:", None, netem_options(profile)))
            if profile.rate_mbit:
                reqs.append(TcRequest(sender, ifname, "tbf", "10:", "1:1", tbf_options(profile)))
    return reqs


@dataclass(frozen=True)
class Channel:
    """One shaped direction of one link, delayed in `router`'s delay line."""

    router: str
    link: str
    direction: str  # "in": far end -> router; "out": router -> far end
    tun: str
    table: int
    profile: LinkProfile


@dataclass
class UserspacePlan:
    channels: list[Channel] = field(default_factory=list)
    # per router: (priority, rule kwargs for IPRoute.rule)
    rules: dict[str, list[dict]] = field(default_factory=dict)
    tbf: list[TcRequest] = field(default_factory=list)
    # directions whose delay is under USERSPACE_RESOLUTION_MS, left unshaped: what and why
    unshaped: list[str] = field(default_factory=list)


def forwarding_end(spec: TopologySpec, label: str, purpose: str = "the userspace backend") -> str:
    """The end of a link where per-link work can hook into forwarding (the router)."""
    lk = spec.link(label)
    fwd = spec.forwarders()
    ends = [e for e in (lk.a, lk.b) if e in fwd]
    if not ends:
        raise ConfigError(f"Link {label!r}", "two endpoints",
                          f"{purpose} needs a forwarding host (router) at one end")
    count = {e: sum(1 for x in spec.links if e in (x.a, x.b)) for e in ends}
    return max(ends, key=lambda e: (count[e], e == lk.a))


def userspace_plan(spec: TopologySpec, run_id: str) -> UserspacePlan:
    plan = UserspacePlan()
    n = 0
    for i, lk in enumerate(spec.links):
        # rate: tbf on the sending interface, for either backend the same kernel qdisc
        for sender, profile in ((lk.a, lk.shape.a_to_b), (lk.b, lk.shape.b_to_a)):
            if profile.rate_mbit:
                ifname = names.ifname(run_id, spec.interface(sender, lk.label).tag)
                plan.tbf.append(TcRequest(sender, ifname, "tbf", "1:", None, tbf_options(profile)))
        if not lk.shape.through_emulator:
            dirs = ((f"{lk.a}->{lk.b}", lk.shape.a_to_b), (f"{lk.b}->{lk.a}", lk.shape.b_to_a))
            plan.unshaped += [f"{lk.label} {name}: {p.delay_ms:g} ms delay +/- {p.jitter_ms:g} ms is under the "
                              f"userspace backend's {USERSPACE_RESOLUTION_MS} ms resolution: not delayed"
                              for name, p in dirs if _below_resolution(p) and (p.delay_ms or p.jitter_ms)]
            if all(_below_resolution(p) for _, p in dirs):
                continue
        router = forwarding_end(spec, lk.label)
        far = lk.b if router == lk.a else lk.a
        inbound = lk.shape.a_to_b if far == lk.a else lk.shape.b_to_a
        outbound = lk.shape.b_to_a if far == lk.a else lk.shape.a_to_b
        r_if = names.ifname(run_id, spec.interface(router, lk.label).tag)
        behind = spec.behind(router, lk.label)
        rules = plan.rules.setdefault(router, [])
        for direction, profile in (("in", inbound), ("out", outbound)):
            if _below_resolution(profile) and not lk.shape.through_emulator:
                continue
            table = 1000 + n
            tun = names.ifname(run_id, f"t{i}{direction[0]}")
            plan.channels.append(Channel(router, lk.label, direction, tun, table, profile))
            n += 1
            if direction == "in":
                rules.append({"priority": 200 + n, "iifname": r_if, "table": table})
            else:
                # packets the delay line hands back must not loop into it again
                rules.append({"priority": 100 + n, "iifname": tun, "table": 254})
                for dest in behind:
                    rules.append({"priority": 300 + n, "dst": str(dest.network_address),
                                  "dst_len": dest.prefixlen, "table": table})
    return plan


def _below_resolution(p: LinkProfile) -> bool:
    """Nothing the delay line could add faithfully: no loss, delay + jitter under its resolution."""
    return not p.has_loss and p.delay_ms + p.jitter_ms < USERSPACE_RESOLUTION_MS


# netem's netlink attributes after pyroute2's last one (TCA_NETEM_RATE = 6), in the kernel's order
NETEM_LATER_ATTRS = (("TCA_NETEM_ECN", "uint32"), ("TCA_NETEM_RATE64", "uint64"), ("TCA_NETEM_PAD", "none"),
                     ("TCA_NETEM_LATENCY64", "int64"), ("TCA_NETEM_JITTER64", "int64"),
                     ("TCA_NETEM_SLOT", "none"), ("TCA_NETEM_SLOT_DIST", "none"),
                     ("TCA_NETEM_PRNG_SEED", "uint64"))


def install_netem_extensions() -> None:
    """Teach pyroute2's netem plugin what it cannot encode: Gilbert-Elliott loss
    (TCA_NETEM_LOSS) and the RNG seed (TCA_NETEM_PRNG_SEED, Linux >= 6.3; older kernels
    ignore the attribute and draw from an unseeded RNG, and do not report it back).

    The kernel's struct tc_netem_gemodel is {p, r, h, k1} as u32 probabilities: h is
    P(delivery in the bad state) and k1 P(loss in the good state); tc's command line
    takes them as `gemodel p r 1-h 1-k`.
    """
    from pyroute2.netlink import nla
    from pyroute2.netlink.rtnl.tcmsg import sched_netem
    from pyroute2.netlink.rtnl.tcmsg.common import percent2u32

    if getattr(sched_netem, "_resetlab_extended", False):
        return

    class netem_loss(nla):
        nla_map = (("NETEM_LOSS_UNSPEC", "none"), ("NETEM_LOSS_GI", "none"), ("NETEM_LOSS_GE", "gemodel"))

        class gemodel(nla):
            fields = (("p", "I"), ("r", "I"), ("h", "I"), ("k1", "I"))

    opts = sched_netem.options
    known = tuple(("TCA_NETEM_LOSS", "netem_loss") if k == "TCA_NETEM_LOSS" else (k, v)
                  for k, v in opts.nla_map)
    assert known[-1][0] == "TCA_NETEM_RATE", known  # the positions below are the kernel's
    opts.nla_map = known + NETEM_LATER_ATTRS
    opts.netem_loss = netem_loss
    opts._nlmsg_base__compiled_nla = False  # recompile the (name-mangled) NLA table lazily
    base = sched_netem.get_parameters

    def get_parameters(kwarg):
        ge, seed = kwarg.get("gemodel"), kwarg.get("seed")
        out = base({k: v for k, v in kwarg.items() if k not in ("gemodel", "seed")})
        if ge:
            # tc's "gemodel p r 1-h 1-k": h_loss is 1-h, k_loss is 1-k (percent)
            out["attrs"].append(["TCA_NETEM_LOSS", {"attrs": [["NETEM_LOSS_GE", {
                "p": percent2u32(ge["p"]), "r": percent2u32(ge["r"]),
                "h": percent2u32(100 - ge["h"]), "k1": percent2u32(ge["k"])}]]}])
        if seed is not None:
            out["attrs"].append(["TCA_NETEM_PRNG_SEED", seed])
        return out

    sched_netem.get_parameters = get_parameters
    sched_netem._resetlab_extended = True


def kernel_netem_available() -> bool:
    return kernel_netem_missing() is None


@functools.lru_cache(maxsize=1)
def kernel_netem_missing() -> str | None:
    """None if a netem qdisc can be added here, else why not (one phrase).

    Tried on a veth in a scratch namespace (never in the host's); a veth rather than a
    dummy device: the development kernel has no dummy driver either. Adding the qdisc
    loads sch_netem when it is a module.
    """
    import errno

    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    run = names.new_run_id()
    scratch = names.netns_name(run, "probe")
    nsexec.create_netns(scratch)

    def probe() -> str | None:
        with IPRoute() as ipr:
            ipr.link("add", ifname=names.ifname(run, "p0"), kind="veth", peer=names.ifname(run, "p1"))
            idx = ipr.link_lookup(ifname=names.ifname(run, "p0"))[0]
            try:
                ipr.tc("add", "netem", idx, handle="1:", delay=1000)
                return None
            except NetlinkError as e:
                if e.code == errno.ENOENT:
                    return f"kernel {os.uname().release} has no sch_netem"
                return f"adding a netem qdisc failed: {os.strerror(e.code)}"

    try:
        return nsexec.call_in(scratch, probe)
    finally:
        nsexec.remove_netns(scratch)


def resolve_backend(backend: str) -> str:
    check_choice("backend", backend, BACKENDS)
    if backend == "auto":
        return "kernel" if kernel_netem_available() else "userspace"
    if backend == "kernel" and not kernel_netem_available():
        raise ConfigError("backend", backend, "'userspace' or 'auto' (this kernel has no sch_netem)")
    return backend
