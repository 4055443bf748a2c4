"""Worlds are data: printable, serializable, comparable; time_scale scales durations only."""

import json

import pytest

from harness.worlds import MODULES, NAMES, ProbeSpec, World, by_name, module_of
from harness.worlds.compile import compile_world, lab_stream
from harness.worlds.prediction import FACTORS
from netem import ConfigError


@pytest.mark.parametrize("name", NAMES)
def test_every_world_roundtrips_json_and_toml(name, tmp_path):
    w = by_name(name)
    for ext, text in (("json", w.to_json()), ("toml", w.to_toml())):
        path = tmp_path / f"w.{ext}"
        path.write_text(text)
        assert World.load(str(path)) == w
    assert w.name in w.describe()


@pytest.mark.parametrize("hyp", sorted(set(MODULES) - {"field"}))
def test_every_hypothesis_states_an_effect_for_every_factor(hyp):
    table = MODULES[hyp].PREDICTIONS
    assert set(FACTORS) - {"canary"} <= set(table), set(FACTORS) - set(table)


def test_time_scale_multiplies_durations_not_bytes():
    w = by_name("h1-size-duration").with_(time_scale=0.5)
    rule = compile_world(w).origin_plan[0]
    assert rule["when"]["body_bytes_times_seconds_over"] == pytest.approx(6_000_000 * 60 * 0.5)
    h2 = by_name("h2").with_(time_scale=0.1, origin_stream={"ping_interval": 30.0})
    assert compile_world(h2).origin_stream["ping_interval"] == pytest.approx(3.0)
    p = ProbeSpec(size=5_000_000, duration=40, longest_idle=200, keepalive=30)
    assert lab_stream(p, 0.1)["duration"] == pytest.approx(4.0)
    assert lab_stream(p, 0.1)["idle"][0]["seconds"] == pytest.approx(20.0)
    probe = compile_world(h2).probe(p, "http://127.0.0.1:1")
    assert probe.keepalive == 3  # whole seconds, rounded up
    assert probe.size == 5_000_000


def test_scaled_plan_leaves_other_fields():
    rules = ({"when": {"after_seconds": 10, "after_events": 5}, "do": {"stall": {"seconds": 4}}, "attempts": [1]},)
    out = compile_world(by_name("control").with_(time_scale=0.1, origin_plan=rules)).origin_plan
    assert out == [{"when": {"after_seconds": 1.0, "after_events": 5}, "do": {"stall": {"seconds": 0.4}},
                    "attempts": [1]}]
    assert rules[0]["when"]["after_seconds"] == 10  # not mutated


@pytest.mark.parametrize("bad, field", [
    ({"hypothesis": "h9"}, "World.hypothesis"),
    ({"time_scale": 0}, "World.time_scale"),
    ({"edge": "envoy"}, "World.edge"),
    ({"nat_timeout": -1}, "World.nat_timeout"),
    ({"colour": "blue"}, "World.colour"),
])
def test_bad_world_fields_give_one_line(bad, field, tmp_path):
    data = {**json.loads(by_name("control").to_json()), **bad}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        World.load(str(path))
    assert str(info.value).startswith(f"{field}: got ")


@pytest.mark.parametrize("bad, field", [
    ({"origin_plan": [{"when": {"after_seconds": "soon"}, "do": {"tcp_rst": {}}}]},
     "World.origin_plan[0].when.after_seconds"),
    ({"origin_plan": [{"do": {"explode": {}}}]}, "World.origin_plan[0].do"),
    ({"origin_stream": {"gaps": 3}}, "World.origin_stream.gaps"),
])
def test_bad_origin_plan_fails_when_the_world_is_built(bad, field):
    with pytest.raises(ConfigError) as info:
        by_name("control").with_(**bad)
    assert str(info.value).startswith(f"{field}: ") and "\n" not in str(info.value)


def test_unknown_world_name():
    with pytest.raises(ValueError, match=r"^world: got 'h7'; allowed one of control, "):
        by_name("h7")


def test_expectations_follow_each_mechanism():
    assert not module_of(by_name("control")).expect(by_name("control"), ProbeSpec(size=30_000_000, duration=600)).fails
    h1s = by_name("h1-stream-limit")
    assert module_of(h1s).expect(h1s, ProbeSpec(duration=300)).fails
    assert not module_of(h1s).expect(h1s, ProbeSpec(duration=30)).fails
    sd = by_name("h1-size-duration")
    assert module_of(sd).expect(sd, ProbeSpec(size=10_000_000, duration=60)).fails
    assert not module_of(sd).expect(sd, ProbeSpec(size=1_000_000, duration=60)).fails
    h2 = by_name("h2")
    assert module_of(h2).expect(h2, ProbeSpec(longest_idle=240)).fails
    assert not module_of(h2).expect(h2, ProbeSpec(longest_idle=240, keepalive=30)).fails
    assert module_of(h2).expect(h2, ProbeSpec(think_time=240)).kinds == {"reset_before_headers"}
    h4 = by_name("h4")
    assert module_of(h4).expect(h4, ProbeSpec(protocol="h2c", read_pace=100)).fails
    assert not module_of(h4).expect(h4, ProbeSpec(protocol="h2c", read_pace=5000)).fails
    assert not module_of(h4).expect(h4, ProbeSpec(protocol="http1", read_pace=100)).fails
    h5 = by_name("h5")
    assert module_of(h5).expect(h5, ProbeSpec(size=10_000_000)).kinds == {"reset_before_headers"}
    assert not module_of(h5).expect(h5, ProbeSpec(size=1_000_000)).fails
