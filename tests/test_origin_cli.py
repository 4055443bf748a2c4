"""``python -m harness origin``: the ready line, port 0, TLS, plans from text or file, signals,
and one clear error line for bad input."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from harness.origin import OriginProcess, parse_ready_line
from harness.origin.runners import _package_root
from harness.origin.testing import h1_request, h2_request, messages_body

READY = re.compile(r"^resetlab origin listening on (https?)://127\.0\.0\.1:(\d+)( \w+=\S+)*$")


def run_cli(*args, timeout=20):
    env = dict(os.environ, PYTHONPATH=_package_root())
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def test_ready_line_port_0_and_sigterm(tmp_path):
    log = tmp_path / "req.jsonl"
    origin = OriginProcess(["--listen", "127.0.0.1:0", "--log", str(log), "--ping-interval", "5",
                            "--stream", '{"deltas": 2}'])
    ready = origin.start()
    try:
        assert origin.port != 0
        line = f"resetlab origin listening on {ready['url']} log={log}"
        assert READY.match(line) and parse_ready_line(line) == ready
        r = h1_request(("127.0.0.1", origin.port), body=messages_body())
        assert r.status == 200 and len(r.events()) == 8
    finally:
        assert origin.stop() == 0  # SIGTERM -> clean exit
    assert origin.proc.stdout.closed
    rec = json.loads(log.read_text().splitlines()[0])
    assert rec["stream"]["ping_interval"] == 5.0 and rec["stream"]["deltas"] == 2


def test_stdout_is_exactly_one_line_and_sigint_exits_cleanly():
    env = dict(os.environ, PYTHONPATH=_package_root())
    proc = subprocess.Popen([sys.executable, "-m", "harness", "origin"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert READY.match(line.rstrip("\n")), line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out == "" and err == ""


def test_tls_prints_ca_path_and_serves_h2(tmp_path):
    ca = tmp_path / "ca.pem"
    with OriginProcess(["--tls", "--ca-file", str(ca)]) as origin:
        assert origin.url.startswith("https://") and origin.ca_path == str(ca)
        r = h2_request(("127.0.0.1", origin.port), body=messages_body(), ca=origin.ca_path)
        assert r.alpn == "h2" and r.status == 200 and r.end == "complete"


def test_plan_as_text_and_as_file(tmp_path):
    plan = '[{"when": {"after_events": 5}, "do": {"tcp_rst": {}}}]'
    with OriginProcess(["--plan", plan]) as origin:
        assert h1_request(("127.0.0.1", origin.port), body=messages_body()).end == "reset"
    path = tmp_path / "plan.json"
    path.write_text('[{"when": {"phase": "before_response_headers"}, "do": {"http_status": '
                    '{"status": 529, "type": "overloaded_error"}}}]')
    with OriginProcess(["--plan", str(path)]) as origin:
        assert h1_request(("127.0.0.1", origin.port), body=messages_body()).status == 529


@pytest.mark.parametrize(("args", "needles"), [
    (["--plan", '[{"when": {"phase": "later"}, "do": {"fin": {}}}]'],
     ["--plan[0].when.phase", '"later"', "before_response_headers"]),
    (["--plan", '[{"do": {"tcp_rst": {}}'], ["--plan: not valid JSON"]),
    (["--plan", "/nonexistent/plan.json"], ["--plan", "neither JSON nor a readable file"]),
    (["--stream", '{"deltas": "many"}'], ["--stream.deltas", '"many"', "integer"]),
    (["--listen", "localhost"], ["--listen", "HOST:PORT"]),
    (["--ping-interval", "-1"], ["--ping-interval.ping_interval", "number > 0"]),
])
def test_bad_input_is_one_clear_line(args, needles):
    proc = run_cli("origin", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("resetlab origin: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_address_in_use_is_reported():
    with OriginProcess([]) as origin:
        proc = run_cli("origin", "--listen", f"127.0.0.1:{origin.port}")
    assert proc.returncode == 1 and "Address already in use" in proc.stderr


def test_subcommand_is_required():
    proc = run_cli()
    assert proc.returncode == 2 and "origin" in proc.stderr


def test_bench_origin_prints_one_json_figure_per_line(capsys):
    from harness.origin import bench

    assert bench.main(["--json", "--repeat", "1", "--events", "300"]) == 0
    lines = capsys.readouterr().out.splitlines()
    figures = [json.loads(line) for line in lines]
    assert [f["metric"] for f in figures] == ["ingest_32mb_s", "sse_events_per_s",
                                              "sse_events_per_s_h2c", "startup_s"]
    for f in figures:
        assert set(f) == {"metric", "value", "unit", "target"} and f["value"] > 0
    assert [f["target"] for f in figures] == ["<= 0.5", ">= 20000", ">= 20000", None]
