"""python -m harness run | report | probe: outputs, schema, bad input, secrets."""

import json
import os
import subprocess
import sys

import pytest

from harness.report import validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "sk-ant-api03-RESETLAB-TEST-SECRET-0123456789"


def _harness(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, first", [
    (["run", "--world", "h9"], "resetlab: error: world: got 'h9'; allowed one of control"),
    (["run", "--all", "--repeats", "-1"], "resetlab: error: --repeats: got -1; allowed an integer >= 1"),
    (["run", "--world", "h1-idle", "--time-scale", "0"], "resetlab: error: --time-scale: got 0.0"),
    (["report", "/nonexistent"], "resetlab: error: DIR: got '/nonexistent'"),
    (["run", "--world", "h2", "--mitigation-turns", "0"], "resetlab: error: --mitigation-turns: got 0"),
    (["mitigate", "--world", "h2", "--turns", "0"], "resetlab: error: turns: got 0"),
    (["probe", "--base-url", "ftp://x"], "resetlab: error: --base-url: got 'ftp://x'"),
    (["probe", "--base-url", "http://127.0.0.1:9", "--api-key-env", "RESETLAB_UNSET_VAR"],
     "resetlab: error: --api-key-env: got 'RESETLAB_UNSET_VAR'"),
])
def test_bad_input_is_one_line(args, first):
    res = _harness(*args)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(first), res.stderr


@pytest.mark.netns
@pytest.mark.slow
def test_run_writes_a_results_folder_and_report_rerenders_it(tmp_path):
    out = tmp_path / "res"
    res = _harness("run", "--world", "h4", "--repeats", "1", "--no-mitigations", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "| world h4 |" in res.stdout
    for name in ("probes.jsonl", "falsification.json", "falsification.md", "report.html"):
        assert (out / name).stat().st_size > 0, name
    doc = json.loads((out / "falsification.json").read_text())
    validate(doc)
    assert set(doc["hypotheses"]) == {"h1", "h2", "h3", "h4", "h5"}
    assert "<img" in (out / "report.html").read_text()
    (out / "falsification.json").unlink()
    again = _harness("report", str(out))
    assert again.returncode == 0
    assert json.loads((out / "falsification.json").read_text()) == doc


@pytest.mark.netns
@pytest.mark.slow
def test_run_with_mitigations_gives_every_world_its_sessions_in_world_order(tmp_path):
    """Each world's mitigation sessions start when its own probes end, beside the other
    worlds' searches: with one world searched at a time, h4's sessions (one 1 MB turn, a few
    seconds) are done while h1-idle's search (about a minute) still runs, so before the table
    is printed; every world still gets one row per default mitigation, in the worlds' order."""
    from harness import mitigations as mit

    out = tmp_path / "res"
    res = subprocess.run([sys.executable, "-m", "harness", "run", "--world", "h4", "--world", "h1-idle",
                          "--parallel", "1", "--repeats", "1", "--mitigation-turns", "1", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, timeout=900)
    text = res.stdout  # stdout and stderr in the order they were written (both flushed per line)
    assert res.returncode == 0, text[-2000:]
    assert "| world h4 |" in text and "| world h1-idle |" in text
    assert "mitigations h4: done" in text and "mitigations h1-idle: done" in text
    assert text.index("mitigations h4: done") < text.index("| world h4 |"), text[-3000:]
    rows = [json.loads(line) for line in (out / "mitigations.jsonl").read_text().splitlines()]
    n = len(mit.DEFAULT)
    assert [r["world"] for r in rows] == ["h4"] * n + ["h1-idle"] * n
    assert all(r["turns"] == 1 for r in rows), rows
    assert "## Mitigations" in text


def test_probe_default_cap_covers_its_own_estimate(tmp_path):
    """Without --max-cost-usd the cap is the plan's estimate rounded up: a default run is never
    cut short by a cap nobody chose; a lower cap given is kept and said to stop it early."""
    import re

    env = {"RESETLAB_TEST_KEY": SECRET}
    out = _harness("probe", "--base-url", "http://127.0.0.1:9", "--api-key-env", "RESETLAB_TEST_KEY", "--out",
                   str(tmp_path / "a"), env=env).stdout
    est, cap = map(float, re.search(r"at most \$([\d.]+) .* cap --max-cost-usd ([\d.]+)\)", out).groups())
    assert est <= cap < est + 1, out
    out = _harness("probe", "--base-url", "http://127.0.0.1:9", "--api-key-env", "RESETLAB_TEST_KEY", "--out",
                   str(tmp_path / "b"), "--max-cost-usd", "1", env=env).stdout
    assert "cap --max-cost-usd 1.00: the cap will stop it early" in out, out


@pytest.mark.netns
def test_probe_asks_before_sending_and_never_writes_the_key(tmp_path):
    from harness.lab.runtime import RunningWorld
    from harness.worlds import by_name

    env = {"RESETLAB_TEST_KEY": SECRET}
    with RunningWorld(by_name("control")) as rw:
        host = rw.topo["client"]

        def probe(*extra):
            proc = host.popen([sys.executable, "-m", "harness", "probe", "--base-url", rw.base_url,
                               "--api-key-env", "RESETLAB_TEST_KEY", "--repeats", "1", "--max-stream-s", "4",
                               "--min-run-s", "20",
                               *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, **env})
            out, err = proc.communicate(timeout=300)
            return proc.returncode, out, err

        code, out, _ = probe("--out", str(tmp_path / "dry"))
        assert code == 0 and "estimated cost: at most $" in out and "nothing sent" in out
        assert rw.origin_records() == []
        code, _, err = probe("--max-cost-usd", "0.0001", "--yes")
        assert code == 2 and err.startswith("resetlab: error: --max-cost-usd: got 0.0001")
        assert rw.origin_records() == []
        code, out, err = probe("--yes", "--max-cost-usd", "100", "--out", str(tmp_path / "real"))
        assert code == 0, err
        sent = rw.origin_records()
    assert len(sent) >= 30  # base, the ladders (size, duration, idle, think, read pace), heartbeats
    assert all(r["headers"].get("x-api-key") == "[redacted]" for r in sent)
    validate(json.loads((tmp_path / "real" / "falsification.json").read_text()))
    for f in (tmp_path / "real").iterdir():
        assert SECRET not in f.read_text(errors="replace"), f.name
    assert SECRET not in out + err


def test_run_all_starts_the_longest_searches_first():
    """`run --all` with a few worlds at a time ends when its last search ends: the outage
    worlds (which wait through outages) and the slowest time scales must not start last."""
    from harness.cli_run import _longest_first
    from harness.worlds import NAMES, by_name

    order = [w.name for w in sorted((by_name(n) for n in NAMES), key=_longest_first)]
    outage_worlds = [n for n in NAMES if by_name(n).outages.active]
    assert outage_worlds and set(order[:len(outage_worlds)]) == set(outage_worlds)
    quiet = [by_name(n) for n in order[len(outage_worlds):] if by_name(n).nat_timeout > 1024]
    scales = [w.time_scale for w in quiet]
    assert scales == sorted(scales, reverse=True)
    slow, fast = by_name("h3").with_(outages=by_name("control").outages), by_name("control")
    assert _longest_first(slow) < _longest_first(fast)  # time scale 0.05 before 0.02
