"""Hand-written data fuzzed: world files (JSON, TOML, raw bytes), the plans, link profiles,
edge policies and outage schedules inside them, data/field-report.json, fieldlog input.

Each bad document is refused with one ConfigError line naming the field, what was given and
what is allowed; a document that is accepted is one a running world can use as it is (its
scaled plan, stream, policy and outage schedule all build), so nothing fails later, after
namespaces exist.
"""

import json
import os

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from harness.fieldlog import compare, field
from harness.origin.plan import parse_plan
from harness.origin.sse import parse_stream_spec
from harness.worlds import NAMES, World, by_name
from harness.worlds.check import MAX_OUTAGES_PER_REAL_S
from harness.worlds.compile import OUTAGE_HORIZON, compile_world
from netem.errors import ConfigError
from tests.fuzzing import (
    FUZZ_QUICK,
    FUZZ_SLOW,
    check_one_line,
    fuzz_settings,
    junk,
    mutated,
    slow_fuzz,
)

WORLD_DOCS = [json.loads(by_name(n).to_json()) for n in NAMES]


def _usable(w: World) -> None:
    """What RunningWorld derives from a world (compile_world: the lab plan), built: none of
    it may raise once namespaces exist."""
    lab = compile_world(w)
    parse_plan(lab.origin_plan, "plan")
    parse_stream_spec(lab.origin_stream, where="stream")
    lab.topology()
    sched = lab.outage_schedule()
    if sched is not None:
        assert len(sched.windows) <= OUTAGE_HORIZON * MAX_OUTAGES_PER_REAL_S + 1
    again = World.from_dict(json.loads(w.to_json()))
    assert again == w


def _world_property(case) -> None:
    doc, path, _ = case
    try:
        w = World.from_dict(doc)
    except ConfigError as e:
        check_one_line(str(e), path)
        return
    _usable(w)


@fuzz_settings(FUZZ_QUICK * 4)
@given(mutated(WORLD_DOCS))
def test_world_dict_mutations_are_refused_in_one_line_or_usable(case):
    _world_property(case)


@pytest.mark.slow
@slow_fuzz
@fuzz_settings(FUZZ_SLOW * 5)
@given(mutated(WORLD_DOCS))
def test_world_dict_mutations_many(case):
    _world_property(case)


def _load(tmp_path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    try:
        w = World.load(str(path))
    except ConfigError as e:
        check_one_line(str(e))
        assert "World" in e.field or e.field == "--world-file", e
        return
    _usable(w)


def _file_cases():
    texts = [by_name(n).to_json().encode() for n in NAMES] + [by_name(n).to_toml().encode() for n in NAMES]
    truncated = st.sampled_from(texts).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i]))
    spliced = st.tuples(st.sampled_from(texts), st.binary(max_size=16), st.integers(0, 2000)).map(
        lambda x: x[0][:x[2]] + x[1] + x[0][x[2]:])
    return st.tuples(st.sampled_from(["w.json", "w.toml"]),
                     st.one_of(truncated, spliced, st.binary(max_size=200),
                               st.just(b"[" * 50_000), st.just(b"a = " + b"[" * 50_000)))


@fuzz_settings(FUZZ_QUICK * 2)
@given(_file_cases())
def test_world_files_truncated_spliced_or_binary(tmp_path_factory, case):
    _load(tmp_path_factory.mktemp("w"), *case)


@pytest.mark.slow
@slow_fuzz
@fuzz_settings(FUZZ_SLOW)
@given(_file_cases())
def test_world_files_many(tmp_path_factory, case):
    _load(tmp_path_factory.mktemp("w"), *case)


@fuzz_settings(FUZZ_QUICK * 2)
@given(mutated(WORLD_DOCS))
def test_world_toml_mutations(tmp_path_factory, case):
    doc, path, _ = case
    try:
        text = tomli_w.dumps(_no_none(doc))
    except (TypeError, ValueError):
        return  # not representable in TOML (the JSON test covers it)
    d = tmp_path_factory.mktemp("t")
    (d / "w.toml").write_text(text)
    try:
        w = World.load(str(d / "w.toml"))
    except ConfigError as e:
        check_one_line(str(e), path)
        return
    _usable(w)


def _no_none(d):
    if isinstance(d, dict):
        return {k: _no_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_no_none(v) for v in d if v is not None]
    return d


def test_world_errors_name_the_nested_field():
    base = json.loads(by_name("h3").to_json())
    cases = [({"access": {"delay_ms": -1}}, "World.access.delay_ms: got -1"),
             ({"access": 5}, "World.access: got 5"),
             ({"edge_policy": {"idle_timeout": "x"}}, "World.edge_policy.idle_timeout: got 'x'"),
             ({"outages": {"windows": [{"start": 1}]}}, "World.outages.windows[0].duration"),
             ({"outages": {"windows": [[0, 5], [2, 5]]}}, "World.outages.windows: got"),
             ({"outages": {"kind": "flood"}}, "World.outages.kind: got 'flood'"),
             ({"outages": {"period_s": 1e-9, "down_s": 0}}, "World.outages.period_s: got 1e-09"),
             ({"origin_plan": [{"when": {"phase": "x"}, "do": {"rst": {}}}]}, "World.origin_plan[0].when.phase"),
             ({"origin_stream": {"gap": "x"}}, "World.origin_stream.gap"),
             ({"nat_stale": "zz"}, "World.nat_stale: got 'zz'"),
             ({"hypothesis": None}, "World.hypothesis: got None")]
    for change, want in cases:
        with pytest.raises(ConfigError) as e:
            World.from_dict({**base, **change})
        assert str(e.value).startswith(want), (change, str(e.value))
        check_one_line(str(e.value))
    missing = {k: v for k, v in base.items() if k != "hypothesis"}
    with pytest.raises(ConfigError, match=r"^World.hypothesis: got None; allowed a value: this key is required"):
        World.from_dict(missing)


# --- data/field-report.json ------------------------------------------------------------------

FIELD_DOC = field.load()


def _field_property(case, tmp_path) -> None:
    doc, path, _ = case
    p = tmp_path / "field-report.json"
    p.write_text(json.dumps(doc))
    try:
        field.load(str(p))
    except ConfigError as e:
        check_one_line(str(e), path)
        return
    compare.field_signature(str(p))  # what lab-vs-field does with it: must not raise


@fuzz_settings(FUZZ_QUICK * 2)
@given(mutated([FIELD_DOC]))
def test_field_report_mutations(tmp_path_factory, case):
    _field_property(case, tmp_path_factory.mktemp("f"))


@pytest.mark.slow
@slow_fuzz
@fuzz_settings(FUZZ_SLOW)
@given(mutated([FIELD_DOC]))
def test_field_report_mutations_many(tmp_path_factory, case):
    _field_property(case, tmp_path_factory.mktemp("f"))


def test_field_report_unreadable_or_not_json(tmp_path):
    for data in (b"", b"{", b"\xff\xfe", b"[1]", b'{"figures": []}'):
        p = tmp_path / "f.json"
        p.write_bytes(data)
        with pytest.raises(ConfigError) as e:
            field.load(str(p))
        assert str(e.value).startswith("data/field-report.json"), e.value
        check_one_line(str(e.value))
    with pytest.raises(ConfigError):
        field.load(str(tmp_path / "missing.json"))


# --- fieldlog input ----------------------------------------------------------------------------

GOOD_LINE = json.dumps({"type": "system", "subtype": "api_error", "level": "error", "retryAttempt": 1,
                        "maxRetries": 10, "timestamp": "2026-04-01T10:00:00.000Z", "uuid": "u1",
                        "sessionId": "s", "version": "2.1.104",
                        "cause": {"code": "ECONNRESET", "path": "https://x/v1/messages"}}).encode()

lines = st.one_of(st.just(GOOD_LINE), st.binary(max_size=64),
                  st.integers(0, len(GOOD_LINE)).map(lambda i: GOOD_LINE[:i]),
                  st.just(b"{" + b"x" * 5000 + b"}"), st.just(b"[" * 3000))


def _fieldlog_property(data: bytes, tmp_path, strict: bool) -> None:
    from harness.fieldlog import analyze

    (tmp_path / "s.jsonl").write_bytes(data)
    rep = analyze([str(tmp_path)], "UTC", strict=strict, max_line=2048)
    n = rep["totals"] if "totals" in rep else rep
    assert isinstance(n, dict)
    text = json.dumps(rep)  # serializable, and no path leaks into it
    assert str(tmp_path) not in text


@fuzz_settings(FUZZ_QUICK * 2)
@given(st.lists(lines, max_size=12).map(lambda ls: b"\n".join(ls)), st.booleans())
def test_fieldlog_takes_any_bytes(tmp_path_factory, data, strict):
    _fieldlog_property(data, tmp_path_factory.mktemp("log"), strict)


@pytest.mark.slow
@slow_fuzz
@fuzz_settings(FUZZ_SLOW)
@given(st.lists(lines, max_size=40).map(lambda ls: b"\n".join(ls)), st.booleans())
def test_fieldlog_takes_any_bytes_many(tmp_path_factory, data, strict):
    _fieldlog_property(data, tmp_path_factory.mktemp("log"), strict)


def test_junk_strategy_is_json():
    # the mutations write JSON: junk must be JSON-representable (NaN/inf are, as Python writes them)
    @fuzz_settings(20)
    @given(junk)
    def one(v):
        json.dumps(v)
    one()


def test_fieldlog_counts_huge_and_binary_lines(tmp_path):
    from harness.fieldlog import analyze

    data = GOOD_LINE + b"\n" + os.urandom(5000) + b"\n" + b"{" + b"y" * 10_000 + b"}\n" + GOOD_LINE[:40]
    (tmp_path / "s.jsonl").write_bytes(data)
    rep = analyze([str(tmp_path)], "UTC", max_line=2048)
    lines_ = rep["files"] if "files" in rep else rep
    assert "oversize" in json.dumps(lines_)
