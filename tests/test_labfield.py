"""Lab vs field (harness/labfield.py): per-world Claude Code logs -> signature -> distance to
the field report, closest world named."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.clients import claude_code
from harness.fieldlog import compare
from tests.requires import needs, skip_reason
from tests.test_fieldlog import MB, SID, T0, api_error, assistant, synthetic, user, write

V = "2.1.104"


def _chain(sid, start, attempts, recovered):
    """A user turn, api_error records for attempts 1..n, then an answer or an API Error turn."""
    recs = [user(T0, start, sid)]
    recs += [api_error(T0, start + a, a, sid, V) for a in range(1, attempts + 1)]
    recs.append(assistant(T0, start + attempts + 5, sid) if recovered
                else synthetic(T0, start + attempts + 5, sid, "API Error: Unable to connect to API (ECONNRESET)"))
    return recs


def _harness(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120)


def test_compare_logs_from_a_folder(tmp_path):
    # "mixed": a big session whose chains recover at attempt 1 (twice) and one never does;
    # "hard": a small session where every chain runs out of retries.
    mixed = _chain(SID["1"], 0, 1, True) + _chain(SID["1"], 100, 1, True) + _chain(SID["1"], 200, 3, False)
    write(str(tmp_path / "mixed" / "s1" / "p" / f"{SID['1']}.jsonl"), mixed, pad_to=7 * MB, pad_base=T0,
          sid=SID["1"])
    write(str(tmp_path / "hard" / "s1" / "p" / f"{SID['2']}.jsonl"), _chain(SID["2"], 0, 3, False))
    os.makedirs(tmp_path / "empty")  # no session files: not a world
    res = _harness("lab-vs-field", "--from", str(tmp_path), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    worlds = {w["world"]: w for w in out["worlds"]}
    assert set(worlds) == {"mixed", "hard"}
    # mixed: attempt 1 triggered 3, recovered 2; attempts 2, 3 triggered once each, never recovered;
    # every error in the >= 6 MB bucket
    assert worlds["mixed"]["signature"] == pytest.approx(
        {"retry_1": 2 / 3, "retry_2": 0.0, "retry_3+": 0.0, "large_share": 1.0, "econnreset": None})
    assert worlds["hard"]["signature"] == pytest.approx(  # Node's cause {}: no code, no share
        {"retry_1": 0.0, "retry_2": 0.0, "retry_3+": 0.0, "large_share": 0.0, "econnreset": None})
    field = compare.field_signature()
    for name, w in worlds.items():
        d, used = compare.distance(w["signature"], field)
        assert w["distance"] == pytest.approx(round(d, 4)) and w["components"] == used, name
    assert out["closest"] == "mixed" and [w["world"] for w in out["worlds"]] == ["mixed", "hard"]
    assert json.load(open(tmp_path / "lab-vs-field.json"))["closest"] == "mixed"


def test_bad_input_is_one_line(tmp_path):
    for args, first in ((["--from", str(tmp_path)], "resetlab: error: --from: got"),
                        (["--world", "h9"], "resetlab: error: world: got 'h9'"),
                        (["--world", "h5", "--sessions", "0"], "resetlab: error: --sessions: got 0"),
                        ([], "resetlab: error: --world: got None")):
        res = _harness("lab-vs-field", *args)
        assert res.returncode == 2 and res.stdout == "", (args, res.stdout)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(first), (args, res.stderr)


@pytest.mark.netns
@pytest.mark.slow
@needs(skip_reason(claude_code.FOLDER, "the Claude Code runner"))
def test_real_claude_code_h5_is_closer_than_control(tmp_path):
    """h5 resets big requests before headers: Claude Code logs api_errors that never recover;
    control logs none, so it has no signature and h5 is the closest world."""
    res = _harness("lab-vs-field", "--world", "control", "--world", "h5", "--sessions", "1",
                   "--max-retries", "2", "--out", str(tmp_path), "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    worlds = {w["world"]: w for w in out["worlds"]}
    assert worlds["control"]["api_errors"] == 0 and worlds["control"]["distance"] is None
    h5 = worlds["h5"]
    assert h5["api_errors"] == 2  # the 7 MB turn: one record per retry (max_retries 2)
    assert h5["signature"]["retry_1"] == 0.0 and h5["signature"]["large_share"] == 1.0
    assert out["closest"] == "h5"
