"""The netem and tbf qdiscs on one interface of a running topology, as netlink reports them."""


def qdiscs(topo, host: str, ifname: str) -> list:
    def dump(ipr):
        idx = ipr.link_lookup(ifname=ifname)[0]
        return [q for q in ipr.get_qdiscs(index=idx) if q.get_attr("TCA_KIND") in ("netem", "tbf")]

    return topo[host].netlink(dump)
