"""Command-line arguments of every `python -m harness ...` and `python -m netem ...` command,
fuzzed: a bad value for any option gets one line on stderr naming the option, what was
given and what is allowed, exit status 2, and nothing is created (no topology, no world, no
server, no file in the working folder).

Most examples call the same `main()` a process would, in this process (milliseconds each),
with everything that would build something replaced by a tripwire; a subset runs the real
processes to check the wiring a process adds (exit status, no traceback, no registry record).
"""

import contextlib
import io
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.mitigations import NAMES as MITIGATIONS
from harness.worlds import MODULES
from harness.worlds import NAMES as WORLDS
from tests.fuzzing import (
    FUZZ_QUICK,
    FUZZ_SLOW,
    bad_choice,
    bad_count,
    bad_number,
    fuzz_settings,
    not_a_number,
    slow_fuzz,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_VAR = "RESETLAB_FUZZ_KEY"
PROBE = ["probe", "--base-url", "http://127.0.0.1:9", "--api-key-env", KEY_VAR]
CLIENT = ["client", "raw", "--base-url", "http://127.0.0.1:9"]
no_port = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=10).filter(lambda s: ":" not in s)
bad_json = st.sampled_from(["{", "[1,", '{"x": 1}', '[{"do": {}}]', "[" * 3000, '{"gap": -1}', "[]x"])

# (program, base argv, option, bad values): every option a user types whose values are constrained
CASES = [
    ("harness", ["run", "--world", "h2"], "--repeats", bad_count(1)),
    ("harness", ["run", "--world", "h2"], "--time-scale", bad_number(1e-4, 10)),
    ("harness", ["run", "--world", "h2"], "--mitigation-turns", bad_count(1, 100)),
    ("harness", ["run", "--world", "h2"], "--backend", bad_choice(("auto", "kernel", "userspace"))),
    ("harness", ["run", "--world", "h2"], "--seed", not_a_number()),
    ("harness", ["run"], "--world", bad_choice(WORLDS + tuple(MODULES)).filter(lambda s: not s.startswith("h1-"))),
    ("harness", ["run"], "--world-file", st.sampled_from(["/nonexistent.toml", "/", "/dev/null", "/proc/self/stat"])),
    ("harness", ["mitigate", "--world", "h2"], "--turns", bad_count(1)),
    ("harness", ["mitigate", "--world", "h2"], "--think-time", bad_number(0, 86400)),
    ("harness", ["mitigate", "--world", "h2"], "--duration", bad_number(0, 86400)),
    ("harness", ["mitigate", "--world", "h2"], "--mitigation", bad_choice(MITIGATIONS)),
    ("harness", ["mitigate"], "--world", bad_choice(WORLDS + tuple(MODULES)).filter(lambda s: not s.startswith("h1-"))),
    ("harness", ["workload", "--world", "h2"], "--turns", bad_count(1)),
    ("harness", ["workload", "--world", "h2"], "--sizes", not_a_number().filter(lambda s: "," not in s)),
    ("harness", ["workload", "--world", "h2"], "--think-time", bad_number(0, 86400)),
    ("harness", ["workload", "--world", "h2"], "--max-retries", bad_count(0, 10)),
    ("harness", ["workload", "--world", "h2"], "--runtime", bad_choice(("node", "bun"))),
    ("harness", ["workload", "--world", "h2"], "--backend", bad_choice(("auto", "kernel", "userspace"))),
    ("harness", ["workload"], "--world", bad_choice(WORLDS + tuple(MODULES)).filter(lambda s: not s.startswith("h1-"))),
    ("harness", ["lab-vs-field", "--world", "h2"], "--sessions", bad_count(1, 50)),
    ("harness", ["lab-vs-field", "--world", "h2"], "--max-retries", bad_count(0, 10)),
    ("harness", ["lab-vs-field", "--world", "h2"], "--think-time", bad_number(0, 86400)),
    ("harness", ["lab-vs-field"], "--world", bad_choice(WORLDS + tuple(MODULES)).filter(lambda s: not s.startswith("h1-"))),
    ("harness", ["lab-vs-field"], "--from", st.sampled_from(["/nonexistent", ".", "/dev/null"])),
    ("harness", PROBE, "--repeats", bad_count(1)),
    ("harness", PROBE, "--max-cost-usd", bad_number(0, float("inf"))),
    ("harness", PROBE, "--min-run-s", bad_number(0, 86400)),
    ("harness", ["probe", "--api-key-env", KEY_VAR], "--base-url", no_port),
    ("harness", CLIENT, "--size", bad_count(0, 64 * 1024 * 1024)),
    ("harness", CLIENT, "--max-retries", bad_count(0, 100)),
    ("harness", CLIENT, "--timeout", not_a_number()),
    ("harness", CLIENT, "--keepalive", bad_number(1, 7200)),
    ("harness", CLIENT, "--h2-window", bad_count(1, 2**31 - 1)),
    ("harness", CLIENT, "--protocol", bad_choice(("http1", "h2", "h2c"))),
    ("harness", CLIENT, "--lab-plan", bad_json),
    ("harness", ["client", "raw"], "--base-url", no_port),
    ("harness", ["origin"], "--listen", no_port),
    ("harness", ["origin"], "--ping-interval", bad_number(0, float("inf"))),
    ("harness", ["origin"], "--plan", bad_json),
    ("harness", ["origin"], "--stream", bad_json),
    ("harness", ["edge", "--upstream", "127.0.0.1:9"], "--policy", bad_json),
    ("harness", ["edge", "--upstream", "127.0.0.1:9"], "--impl", bad_choice(("builtin", "nginx", "haproxy"))),
    ("harness", ["edge"], "--upstream", no_port),
    ("harness", ["fieldlog", "/dev/null"], "--max-line-bytes", bad_count(1024)),
    ("harness", ["report"], "", st.sampled_from(["/nonexistent", "/", "/tmp"])),
    ("harness", ["fieldlog"], "", st.sampled_from(["/nonexistent"])),
    # (a comma list: "0," is a valid list of one delay)
    ("netem", ["bench"], "--delays", st.one_of(not_a_number().filter(lambda s: "," not in s),
                                               bad_number(0, 60000))),
    ("netem", ["bench"], "--seconds", bad_number(0.1, 600)),
    ("netem", ["bench"], "--backend", bad_choice(("userspace", "kernel"))),
    ("netem", ["cleanup"], "--bogus", st.just("x")),
]
IDS = [f"{prog} {base[0]} {opt}" for prog, base, opt, _ in CASES]


def _argv(base: list[str], option: str, value: str) -> list[str]:
    # --opt=value: a value starting with '-' stays a value
    return [*base, f"{option}={value}" if option else value]


class Tripwire(Exception):
    pass


@pytest.fixture
def nothing_built(monkeypatch, tmp_path):
    """Every way a command builds something raises Tripwire; the working folder is tmp_path."""
    import trio

    from harness.lab import runtime
    from netem import topology

    def trip(*a, **k):
        raise Tripwire("bad input reached a builder")

    monkeypatch.setattr(topology.Topology, "__enter__", trip)
    monkeypatch.setattr(runtime.RunningWorld, "__enter__", trip)
    monkeypatch.setattr(trio, "run", trip)
    monkeypatch.setattr(subprocess, "Popen", trip)
    monkeypatch.setenv(KEY_VAR, "sk-fuzz-not-a-key")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _main_in_process(prog: str, argv: list[str]) -> tuple[int, str]:
    if prog == "harness":
        from harness.__main__ import main
    else:
        from netem.__main__ import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    return rc, err.getvalue()


def _check(option: str, value: str, rc: int, stderr: str) -> None:
    assert rc == 2, (option, value, rc, stderr)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    line = stderr.strip()
    assert ": error: " in line and "allowed" in line, line
    # the option by its flag (--think-time) or its field (Session.think_time)
    name = option.lstrip("-").replace("-", "_")
    assert name in line.replace("-", "_") or (option == "" and ("PATH" in line or "DIR" in line)), (option, line)


def _in_process_case(i: int, n: int):
    prog, base, option, values = CASES[i]

    @fuzz_settings(n)
    @given(values)
    def prop(tmp, value):
        rc, stderr = _main_in_process(prog, _argv(base, option, value))
        _check(option, value, rc, stderr)
        assert os.listdir(tmp) == [], os.listdir(tmp)

    return prop


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_bad_option_in_process(i, nothing_built):
    _in_process_case(i, FUZZ_QUICK)(nothing_built)


@pytest.mark.slow
@slow_fuzz
@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_bad_option_in_process_many(i, nothing_built):
    _in_process_case(i, FUZZ_SLOW)(nothing_built)


def _process(prog: str, argv: list[str], tmp) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT, KEY_VAR: "sk-fuzz-not-a-key",
           "RESETLAB_REGISTRY_DIR": str(tmp / "registry")}
    work = tmp / "cwd"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", prog, *argv], capture_output=True, text=True, cwd=work,
                          env=env, timeout=120)


def _as_process(i: int, n: int, tmp_path_factory) -> None:
    prog, base, option, values = CASES[i]

    @fuzz_settings(n)
    @given(values)
    def prop(value):
        tmp = tmp_path_factory.mktemp("p")
        res = _process(prog, _argv(base, option, value), tmp)
        _check(option, value, res.returncode, res.stderr)
        assert not (tmp / "registry").exists() and os.listdir(tmp / "cwd") == []

    prop()


# one option per command through a real process in the normal suite (a process costs ~1 s here)
QUICK_PROCESS = sorted({base[0] if prog == "harness" else prog + base[0]: i
                        for i, (prog, base, _, _) in enumerate(CASES)}.values())


@pytest.mark.parametrize("i", QUICK_PROCESS, ids=[IDS[i] for i in QUICK_PROCESS])
def test_bad_option_as_a_process(i, tmp_path_factory):
    """A drawn value through a real process: exit 2, one line, no traceback, no registry
    record and no file in the working folder."""
    _as_process(i, 1, tmp_path_factory)


@pytest.mark.slow
@slow_fuzz
@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_bad_option_as_a_process_many(i, tmp_path_factory):
    _as_process(i, 10, tmp_path_factory)


def test_bad_world_file_as_a_process(tmp_path):
    """The issue's cases: a world file missing fields, a string NAT timeout, a negative scale."""
    for text, want in (('{"name": "x"}', "World.hypothesis: got None"),
                       ('{"name": "x", "hypothesis": "h2", "nat_timeout": "abc"}', "World.nat_timeout: got 'abc'"),
                       ('{"name": "x", "hypothesis": "h2", "time_scale": -1}', "World.time_scale: got -1"),
                       ('name = "x"\nhypothesis = "h3"\n[outages]\nperiod_s = "often"\n',
                        "World.outages.period_s: got 'often'")):
        path = tmp_path / ("w.toml" if "[outages]" in text else "w.json")
        path.write_text(text)
        res = _process("harness", ["run", "--world-file", str(path)], tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.count("\n") == 1 and want in res.stderr, res.stderr
        assert not (tmp_path / "registry").exists() and os.listdir(tmp_path / "cwd") == []
