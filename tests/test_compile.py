"""The compile step (harness/worlds/compile.py): a world in field units becomes the lab's
in one place, every duration of every schema scaled, so a world behaves the same at any
time scale."""

import dataclasses
import math
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.edge.policy import EdgePolicy
from harness.origin.actions import ACTIONS
from harness.origin.plan import When, parse_plan, plan_to_json
from harness.origin.sse import StreamSpec
from harness.units import FACTORS, timed_fields
from harness.worlds import MODULES, by_name, h1, h2, h3, h4, h5
from harness.worlds.compile import UNSCALED, UPLOAD_IDLE_FLOOR_S, compile_world, lab_stream
from harness.worlds.model import Outages, ProbeSpec, World
from netem.outage import Window
from netem.profile import LinkProfile

# every schema a world is made of (field units)
SCHEMAS = (World, ProbeSpec, Outages, EdgePolicy, When, StreamSpec, LinkProfile)
# a field name that says "time": it must carry a unit (or be in compile.UNSCALED)
TIMELIKE = re.compile(r"(timeout|seconds|_s$|_ms$|_s_|delay|duration|interval|idle|gap|pace|think_time|keepalive"
                      r"|period|per_s|time)")
NOT_TIME = {(World, "time_scale")}  # the factor itself


def test_every_timelike_field_carries_a_unit():
    missing = [f"{cls.__name__}.{f.name}" for cls in SCHEMAS for f in dataclasses.fields(cls)
               if TIMELIKE.search(f.name) and "unit" not in f.metadata
               and (cls, f.name) not in UNSCALED and (cls, f.name) not in NOT_TIME]
    missing += [f"{name}.{p}" for name, action in ACTIONS.items() for p, spec in action.params_schema.items()
                if TIMELIKE.search(p) and spec.unit is None]
    assert not missing, f"give these fields metadata=unit(...) (harness/units.py): {missing}"


def _sample(cls, **given):
    """An instance with every unit-tagged field set to a distinct non-zero value."""
    kw = {}
    for i, name in enumerate(timed_fields(cls)):
        if name in given:
            continue
        kw[name] = {"gaps": (1.0 + i, 2.0 + i), "idle": ((2, 3.0 + i),),
                    "windows": (Window(5.0 + i, 2.0),)}.get(name, 7.0 + i)
    return cls(**kw, **given)


def _leaf(v):
    return [x for item in v for x in (item if isinstance(item, tuple) else (item,))] \
        if isinstance(v, tuple) else v


@pytest.mark.parametrize("cls, extra", [(EdgePolicy, {}), (When, {}), (StreamSpec, {}),
                                        (Outages, {"period_s": 100.0, "down_s": 40.0})])
def test_every_tagged_field_of_a_schema_is_scaled(cls, extra):
    obj = _sample(cls, **extra)
    s = 0.25
    out = obj.scaled(s)
    for name, u in timed_fields(cls).items():
        before, after = getattr(obj, name), getattr(out, name)
        if name == "windows":
            before = [x for w in before for x in (w.start, w.duration)]
            after = [x for w in after for x in (w.start, w.duration)]
        elif name == "idle":
            assert [n for n, _ in after] == [n for n, _ in before]  # event numbers are counts
            before, after = [x for _, x in before], [x for _, x in after]
        before, after = _leaf(before), _leaf(after)
        expected = [b * s ** FACTORS[u] for b in before] if isinstance(before, list) else before * s ** FACTORS[u]
        assert after == pytest.approx(expected), f"{cls.__name__}.{name} ({u})"


def test_every_timed_action_parameter_is_scaled():
    for name, action in ACTIONS.items():
        timed = {p: spec for p, spec in action.params_schema.items() if spec.unit}
        if not timed:
            continue
        a = action.parse(name, dict.fromkeys(timed, 8.0))
        out = a.scaled(0.5).params
        for p, spec in timed.items():
            assert out[p] == pytest.approx(8.0 * 0.5 ** FACTORS[spec.unit]), f"{name}.{p}"


def _flat(x, path=""):
    """Numeric leaves of a compiled plan, by path."""
    if dataclasses.is_dataclass(x):
        x = {f.name: getattr(x, f.name) for f in dataclasses.fields(x) if f.name != "world"}
    if isinstance(x, dict):
        return {k: v for key, val in x.items() for k, v in _flat(val, f"{path}.{key}").items()}
    if isinstance(x, list | tuple):
        return {k: v for i, val in enumerate(x) for k, v in _flat(val, f"{path}[{i}]").items()}
    if isinstance(x, int | float) and not isinstance(x, bool):
        return {path: x}
    return {}


def test_world_and_probe_timed_fields_reach_the_lab_scaled():
    """Each unit-tagged field of World and ProbeSpec, changed alone, changes the compiled lab
    by exactly its scaled value (so compile reads every one, through its own unit)."""
    s = 0.5
    base_w = by_name("h3").with_(time_scale=s, prefill_s_per_mb=3.0)
    spec = ProbeSpec(duration=20, longest_idle=10, keepalive=30, read_pace=64, think_time=6, idle_timeout=40,
                     headers_timeout=8)
    for name, u in timed_fields(World).items():
        if name == "time_scale":
            continue
        v = getattr(base_w, name) * 2
        a, b = _flat(compile_world(base_w)), _flat(compile_world(base_w.with_(**{name: v})))
        changed = {k: b[k] for k in a if a[k] != b[k]}
        assert changed and all(x == pytest.approx(v * s ** FACTORS[u]) for x in changed.values()), (name, changed)
    lab = compile_world(base_w)
    for name, u in timed_fields(ProbeSpec).items():
        v = getattr(spec, name) * 2
        a = _flat(lab.probe(spec, "http://127.0.0.1:1"))
        b = _flat(lab.probe(dataclasses.replace(spec, **{name: v}), "http://127.0.0.1:1"))
        changed = {k: b[k] for k in a if a[k] != b[k]}
        scaled = v * s ** FACTORS[u]
        assert changed, name
        assert any(x == pytest.approx(scaled) or (name == "keepalive" and x == math.ceil(scaled))
                   for x in changed.values()), (name, changed)


# -- the property: a world at two time scales --------------------------------------------

def logs(lo: float, hi: float):
    """Log-uniform: every order of magnitude of a field range equally likely."""
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10 ** e)


durations = logs(1.0, 5000.0)


@st.composite
def worlds(draw, family: str | None = None) -> World:
    """A built-in family (any, or the one given) with its parameters drawn from wide field ranges."""
    family = family or draw(st.sampled_from(sorted(MODULES)))
    if family == "h1":
        w = h1.world(draw(st.sampled_from(h1.VARIANTS)))
        pol = w.edge_policy
        limits = {k: draw(durations) for k in ("max_stream_duration", "idle_timeout", "client_idle_timeout")
                  if getattr(pol, k) is not None}
        w = w.with_(edge_policy=dataclasses.replace(pol, **limits))
        if w.origin_plan:
            budget = draw(logs(1e6, 1e10))
            w = w.with_(origin_plan=({"when": {"phase": "stream", "body_bytes_times_seconds_over": budget},
                                      "do": {"tcp_rst": {}}},))
        return w
    if family == "h2":
        return h2.world(ping_interval=draw(st.none() | durations), nat_timeout=draw(durations))
    if family == "h3":
        period = draw(durations)
        return h3.world(period_s=period, down_s=period * draw(st.floats(0.01, 0.99)), rate_per_s=draw(st.sampled_from((0.0,)) | logs(1e-5, 0.1)),
                        mean_s=draw(durations), client_idle_timeout=draw(durations))
    if family == "h4":
        return h4.world(stall_limit=draw(durations))
    if family == "h5":
        return h5.world(first_byte=draw(durations), prefill_s_per_mb=draw(logs(0.1, 100)))
    if family == "field":
        return MODULES["field"].world().with_(nat_timeout=draw(durations), client_idle_timeout=draw(durations))
    return MODULES["control"].world()


@st.composite
def probes(draw) -> ProbeSpec:
    protocol = draw(st.sampled_from(("http1", "h2c")))
    return ProbeSpec(size=int(draw(logs(1, 30_000_000))), duration=draw(logs(0.1, 3000)),
                     longest_idle=draw(st.sampled_from((0.0,)) | durations),
                     keepalive=draw(st.none() | logs(2, 3000)), protocol=protocol,
                     read_pace=draw(st.none() | logs(1, 1e6)),
                     h2_window=draw(st.none() | logs(1024, 1 << 20).map(int)) if protocol == "h2c" else None,
                     think_time=draw(st.none() | durations), idle_timeout=draw(st.none() | durations))


scales = logs(0.002, 1.0)


def _lab_overhead_decides(w: World, a: World, b: World, p: ProbeSpec) -> bool:
    """h1's size x duration budget counts the lab's own upload time, which is real time
    (h1.lab_seconds): near the budget, that alone may decide -- not a scaling matter."""
    for rule in w.origin_plan:
        budget = rule.get("when", {}).get("body_bytes_times_seconds_over")
        if budget is not None:
            total = p.duration + p.longest_idle
            lo, hi = sorted(p.size * (total + h1.lab_seconds(x, p)) for x in (a, b))
            if lo <= budget < hi:
                return True
    return False


@pytest.mark.parametrize("family", sorted(MODULES))
def test_a_world_expects_the_same_at_any_time_scale(family):
    @settings(max_examples=300, deadline=None)
    @given(w=worlds(family), p=probes() | st.sampled_from(_cells(family)), sa=scales, sb=scales)
    def same(w, p, sa, sb):
        a, b = w.with_(time_scale=sa), w.with_(time_scale=sb)
        assume(not _lab_overhead_decides(w, a, b, p))
        expect = MODULES[w.hypothesis].expect
        assert expect(a, p) == expect(b, p)

    same()


def _cells(family: str) -> list[ProbeSpec]:
    """The family's own matrix cells and the engine's ladder probes: the probes the lab really runs."""
    from harness.experiment.factors import FACTORS, LAB, spec_for

    w = MODULES[family].world() if family != "h1" else h1.world()
    ladders = [spec_for(f, lv, LAB) for f in FACTORS
               for lv in (LAB.size_levels() if f == "size" else LAB.time_levels())]
    return MODULES[family].cells(w, (1000, 1_000_000, 30_000_000)) + ladders


@settings(max_examples=300, deadline=None)
@given(w=worlds(), p=probes(), sa=scales, sb=scales)
def test_compiled_worlds_differ_only_by_the_time_scale(w, p, sa, sb):
    """Every number the lab gets at scale b is the one at scale a times (b/a)^power of its
    unit: durations follow the scale, rates its inverse, bytes and counts stay. Only the
    lab's whole-second limits (keepalive, conntrack), the probe's own overall timeout (it
    includes real upload time) and its upload watchdog (floored in real seconds) may differ."""
    la, lb = compile_world(w.with_(time_scale=sa)), compile_world(w.with_(time_scale=sb))
    fa, fb = _flat(la), _flat(lb)
    fa.update({"probe" + k: v for k, v in _flat(la.probe(p, "http://127.0.0.1:1")).items()})
    fb.update({"probe" + k: v for k, v in _flat(lb.probe(p, "http://127.0.0.1:1")).items()})
    assert fa.keys() == fb.keys()
    r = sb / sa
    for k in fa:
        if k in (".nat_timeout", "probe.keepalive", "probe.timeout", "probe.deadline", "probe.upload_idle"):
            continue
        x, y = fa[k], fb[k]
        assert any(y == pytest.approx(x * f, rel=1e-9, abs=1e-12) for f in (1, r, 1 / r)), (k, x, y)
    # the floored one is the scaled watchdog or the floor, whichever is longer
    assert fb["probe.upload_idle"] == pytest.approx(max(UPLOAD_IDLE_FLOOR_S, fb["probe.idle_timeout"]))
    # the rounded ones round the scaled value, never change it otherwise
    assert lb.nat_timeout == pytest.approx(max(1.0, w.nat_timeout * sb))


def test_probe_stream_and_plan_scale_through_the_origins_own_schemas():
    p = ProbeSpec(duration=40, longest_idle=200)
    assert lab_stream(p, 0.1) == {"deltas": 160, "duration": pytest.approx(4.0),
                                  "idle": [{"after_event": 3, "seconds": pytest.approx(20.0)}]}
    w = by_name("control").with_(time_scale=0.1, origin_stream={"gaps": [10, 20], "idle": [
        {"after_event": 2, "seconds": 30}], "headers_delay_per_mb": 5, "deltas": 7},
        origin_plan=({"when": {"idle_seconds_over": 50}, "do": {"drip": {"bytes_per_second": 100}}},))
    lab = compile_world(w)
    assert lab.origin_stream == {"gaps": [pytest.approx(1.0), pytest.approx(2.0)], "deltas": 7,
                                 "idle": [{"after_event": 2, "seconds": pytest.approx(3.0)}],
                                 "headers_delay_per_mb": pytest.approx(0.5)}
    assert lab.origin_plan == plan_to_json(parse_plan([{"when": {"idle_seconds_over": 5.0},
                                                        "do": {"drip": {"bytes_per_second": 1000.0}}}]))


@pytest.mark.netns
@pytest.mark.slow
def test_a_built_in_world_gets_the_same_verdicts_at_two_time_scales():
    """h4 (its read pace and stall limit both scale) falsified at 0.02 and at 0.05: the same
    verdict for every hypothesis."""
    from harness.run import falsify_world

    verdicts = []
    for s in (0.02, 0.05):
        _, result = falsify_world(by_name("h4").with_(time_scale=s))
        verdicts.append(({h: v.verdict for h, v in result.verdicts.items()}, result.table()))
    assert verdicts[0][0] == verdicts[1][0], f"{verdicts[0][1]}\n\n{verdicts[1][1]}"
    assert verdicts[0][0]["h4"] == "consistent", verdicts[0][1]


def test_the_probe_carries_its_seed_and_typed_timers():
    lab = compile_world(by_name("h2").with_(time_scale=0.1))
    spec = ProbeSpec(think_time=20, idle_timeout=50, seed=4)
    probe = lab.probe(spec, "http://127.0.0.1:1", "/tmp/origin.jsonl")
    assert (probe.seed, probe.think_time, probe.idle_timeout, probe.origin_log) == (4, 2.0, 5.0, "/tmp/origin.jsonl")
    assert "origin_log" not in probe.public() and probe.public()["seed"] == 4
    assert lab.probe(ProbeSpec(), "http://127.0.0.1:1").idle_timeout == pytest.approx(30.0)  # the world's


@pytest.mark.parametrize("time_scale", [0.02, 0.1, 1.0])
def test_link_delays_scale_like_every_duration(time_scale):
    """A world's access and backbone delays are field milliseconds: the lab's are times the
    time scale, so the same world has the same RTT in field units at any scale."""
    w = dataclasses.replace(by_name("h2"), time_scale=time_scale,
                            access=LinkProfile(delay_ms=5, jitter_ms=1), backbone=LinkProfile(delay_ms=2))
    shapes = {lk.label: lk.shape for lk in compile_world(w).topology().links}
    for label, ms, jitter in (("client-nat", 5, 1), ("nat-edge", 2, 0)):
        for profile in (shapes[label].a_to_b, shapes[label].b_to_a):
            assert profile.delay_ms == pytest.approx(ms * time_scale), (label, profile)
            assert profile.jitter_ms == pytest.approx(jitter * time_scale), (label, profile)
