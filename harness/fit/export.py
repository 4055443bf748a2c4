"""A fitted candidate as a World (what a World can express of it) plus the rest as data.

    preheader  -> no edge (edge "none": a plain router, so the origin sees the upload as it
                  happens), origin rules resetting (tcp_rst) a request still uploading or
                  waiting for headers `budget_s` after its headers arrived; prefill_s_per_mb
    link rate  -> the access link's rate, divided by time_scale (bytes are not scaled, so
                  upload time must shrink with the budgets), capped at RATE_CAP
    stale      -> nat_timeout = forget_s, nat_stale "new_mapping" (the origin answers RST)
    midstream  -> an origin rule: tcp_rst once body bytes x seconds passes sxd_mb_s x 1e6
    outages    -> Poisson access-link outages (rate, mean length)

What a World cannot express (listed in `lost`, kept in the fit's JSON): per-attempt and
per-hour rate jitter, bad days, the outages' daily peak, an outage flushing the NAT, and the
user model (only the think time and request sizes reach the lab, through the workload).
Bun's pool idle (300 s) and keepalive (60 s) are real seconds in the lab, not scaled like
the NAT timeout: at time_scale < 1 a lab think time never reaches them.
"""

from __future__ import annotations

from harness.worlds.model import Outages, World
from netem.profile import LinkProfile

from .family import MECHANISMS

RATE_CAP = 1000.0  # Mbit/s the lab's access link is asked for at most (userspace delay line ~1.4 Gbit/s)
MIN_BUDGET_LAB = 1.0  # s: a lab budget shorter than this is timing noise on a loaded machine
MAX_THINK_LAB = 8.0  # s of lab think time per turn (the confirmation must fit in 20 minutes)


def time_scale_for(params: dict) -> float:
    """Largest scale the lab needs: budgets >= MIN_BUDGET_LAB, the rate within RATE_CAP."""
    ts = max(0.02, MIN_BUDGET_LAB / params["budget_s"], params["rate_mbit"] / RATE_CAP)
    return round(min(1.0, ts), 4)


def to_world(params: dict, mechanisms=MECHANISMS, name: str = "fit-1", time_scale: float | None = None
             ) -> tuple[World, list[str]]:
    """(World, what it could not express)."""
    mechs = set(mechanisms)
    ts = time_scale or time_scale_for(params)
    lost = [f"{m} (not expressible in a World)" for m in ("jitter", "bad_days") if m in mechs]
    plan: list[dict] = []
    kw: dict = {}
    rate = params["rate_mbit"] / ts
    if rate > RATE_CAP:
        lost.append(f"access rate {rate:.0f} Mbit/s (rate_mbit / time_scale) capped at {RATE_CAP:.0f}")
        rate = RATE_CAP
    kw["access"] = LinkProfile(delay_ms=5, rate_mbit=round(rate, 1))
    if "preheader" in mechs:
        for phase in ("request_body", "before_response_headers"):
            plan.append({"when": {"phase": phase, "after_seconds": round(params["budget_s"], 3)},
                         "do": {"tcp_rst": {}}})
        kw["prefill_s_per_mb"] = round(params["prefill_s_per_mb"], 4)
    if "midstream" in mechs:
        for phase in ("before_response_headers", "stream"):
            plan.append({"when": {"phase": phase, "body_bytes_times_seconds_over": round(params["sxd_mb_s"] * 1e6)},
                         "do": {"tcp_rst": {}}})
    if "stale" in mechs:
        kw["nat_timeout"] = max(1.0, round(params["forget_s"], 2))
        kw["nat_stale"] = "new_mapping"
    if "outages" in mechs:
        kw["outages"] = Outages(poisson_rate_per_s=params["outages_per_day"] / 86400,
                                poisson_mean_s=round(params["outage_mean_s"], 2), seed=7)
        lost += ["outages' daily peak (outage_peak_hour, outage_conc)",
                 f"outages flushing the NAT (flush_p {params['flush_p']:.2f})"]
    lost.append("the user model except think time and request sizes (workload)")
    desc = "fitted mixture (harness/fit): " + ", ".join(m for m in MECHANISMS if m in mechs)
    world = World(name=name, hypothesis="field", description=desc, time_scale=ts, edge="none",
                  origin_plan=tuple(plan), origin_stream={"ping_interval": 30.0}, **kw)
    return world, lost


def workload_args(params: dict, world: World) -> dict:
    """How the confirmation's Claude Code sessions run: persistent (one process, its pool
    carries over, as in the field), on Bun, the fitted think time (at most MAX_THINK_LAB lab
    seconds), and one large session's request sizes at a quarter, half, three quarters and
    all of an 8 MB session file (Claude Code's base + min(body_ratio x file, body_cap))."""
    think = min(params["think_s"], MAX_THINK_LAB / world.time_scale)
    sizes = tuple(int(100_000 + min(params["body_ratio"] * f * 1e6, params["body_cap_mb"] * 1e6))
                  for f in (2, 4, 6, 8))
    return {"persistent": True, "runtime": "bun", "think_time": round(think, 1), "sizes": sizes}


def lab_seconds_per_session(params: dict, world: World, max_retries: int, mechanisms=MECHANISMS) -> float:
    """A rough upper bound of one confirmation session's wall time (for the time budget)."""
    w = workload_args(params, world)
    # a failing attempt ends at the first budget that trips: the first-byte one or the size x
    # duration one (which trips before headers for big requests); the longest over the sizes
    sxd = params["sxd_mb_s"] if "midstream" in mechanisms else float("inf")
    fail = max(min(params["budget_s"], sxd / (s / 1e6)) for s in w["sizes"])
    attempt = min(fail, 600) * world.time_scale + 2
    backoff = sum(min(0.5 * 2 ** k, 32) for k in range(max_retries))
    return len(w["sizes"]) * (w["think_time"] * world.time_scale + (max_retries + 1) * attempt + backoff) + 15
