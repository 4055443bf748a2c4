"""The kernel backend, checked by what it asks netlink to do (this kernel has no sch_netem),
and for real where the running kernel has it (see test_link_fidelity)."""

import pytest
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nlsocket import NetlinkRequest
from pyroute2.netlink.rtnl import RTM_NEWQDISC
from pyroute2.netlink.rtnl.tcmsg import tcmsg
from pyroute2.netlink.rtnl.tcmsg.common import time2tick

from netem import GilbertElliott, LinkProfile, LinkShape, chain, names, shaping

pytestmark = pytest.mark.netns


def _spec():
    return chain("client", "router", "server", shapes={
        "client-router": LinkShape(LinkProfile(delay_ms=20, jitter_ms=2, loss_pct=1.5, rate_mbit=50, limit_packets=800),
                                   LinkProfile(delay_ms=5, gilbert_elliott=GilbertElliott(p=2, r=25, h_loss=90, k_loss=0.5))),
    })


def test_plan_puts_netem_on_the_sender_of_each_direction():
    spec = _spec()
    plan = shaping.kernel_plan(spec, "abcdef")
    by_if = [(r.host, r.ifname, r.kind, r.handle, r.parent) for r in plan]
    assert by_if == [
        ("client", names.ifname("abcdef", "0a"), "netem", "1:", None),
        ("client", names.ifname("abcdef", "0a"), "tbf", "10:", "1:1"),
        ("router", names.ifname("abcdef", "0b"), "netem", "1:", None),
    ]
    assert plan[0].options == {"delay": 20000, "jitter": 2000, "limit": 800, "loss": 1.5}
    assert plan[2].options["gemodel"] == {"p": 2, "r": 25, "h": 90, "k": 0.5}


def _capture(monkeypatch):
    sent = []
    orig = NetlinkRequest.send

    async def send(self):
        await self.prepare()
        if self.msg["header"]["type"] == RTM_NEWQDISC:
            sent.append(bytes(self.msg.data))
        return await orig(self)

    monkeypatch.setattr(NetlinkRequest, "send", send)
    return sent


def _decode(data: bytes) -> tuple[dict, dict]:
    msg = tcmsg(data)
    msg.decode()
    return msg, msg.get_attr("TCA_OPTIONS")


def test_netlink_messages_carry_the_profile(make_topology, monkeypatch):
    shaping.install_gemodel_support()
    topo = make_topology(chain("client", "router", "server"))
    spec = _spec()
    sent = _capture(monkeypatch)
    outcomes = []
    for req in shaping.kernel_plan(spec, topo.run_id):
        try:
            topo[req.host].netlink(lambda ipr, req=req: shaping.apply_tc(ipr, req))
            outcomes.append("applied")
        except NetlinkError as e:  # EINVAL/EOPNOTSUPP where sch_netem is missing
            outcomes.append(e.code)
    assert len(sent) == 3, outcomes
    netem_c, opts_c = _decode(sent[0])
    assert netem_c.get_attr("TCA_KIND") == "netem"
    assert netem_c["parent"] == 0xFFFFFFFF and netem_c["handle"] == 0x10000
    # netem takes delay in psched ticks (tc's own conversion, from /proc/net/psched)
    assert opts_c["delay"] == time2tick(20000) and opts_c["jitter"] == time2tick(2000)
    assert opts_c["limit"] == 800
    assert opts_c["loss"] == int((2**32 - 1) * 1.5 / 100)
    tbf, tbf_opts = _decode(sent[1])
    assert tbf.get_attr("TCA_KIND") == "tbf"
    assert tbf["parent"] == 0x10001 and tbf["handle"] == 0x100000  # "10:" is hex, as in tc
    assert tbf_opts.get_attr("TCA_TBF_PARMS")["rate"] == 50_000_000 // 8
    netem_r, opts_r = _decode(sent[2])
    assert opts_r["delay"] == time2tick(5000) and opts_r["loss"] == 0
    loss = opts_r.get_attr("TCA_NETEM_LOSS")
    ge = loss.get_attr("NETEM_LOSS_GE")
    u32 = lambda pct: int((2**32 - 1) * pct / 100)  # noqa: E731
    assert (ge["p"], ge["r"], ge["h"], ge["k1"]) == (u32(2), u32(25), u32(10), u32(0.5))


def test_kernel_backend_refused_with_one_line_where_netem_is_missing():
    if shaping.kernel_netem_available():
        pytest.skip("this kernel has sch_netem")
    with pytest.raises(ValueError, match=r"^backend: got 'kernel'; allowed .*no sch_netem"):
        shaping.resolve_backend("kernel")
    assert shaping.resolve_backend("auto") == "userspace"
