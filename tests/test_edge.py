"""Edges from one EdgePolicy: the built-in edge does exactly what the policy says; nginx and
haproxy trip each limit and what the client sees is checked against the measured table."""

import json
import socket
import time

import pytest

from harness.edge import EdgePolicy, RealEdge
from harness.edge.builtin import edge_thread
from harness.edge.observe import observe
from harness.edge.observed import OBSERVED
from harness.edge.real import available
from harness.origin import OriginConfig, OriginThread
from harness.origin.testing import h1_request, h2_request, messages_body
from netem import ConfigError
from tests.requires import skip_if

# Timing: limits of 0.5 s against an origin that goes silent for 1.5 s (or answers at
# once); a second of slack either way before an outcome could flip.
LIMIT, SILENCE = 0.5, 1.5
KEY = {"x-api-key": "test-key"}


@pytest.fixture(scope="module")
def origin():
    with OriginThread(OriginConfig(stream={"deltas": 20, "gap": 0.02, "ping_interval": None})) as o:
        yield o


def _stream_headers(**stream):
    return {**KEY, "x-resetlab-stream": json.dumps(stream)}


# scenario: (policy kwargs, stream config, body size) that makes exactly `limit` trip
SCENARIOS = {
    "first_byte": ({"first_byte_timeout": LIMIT}, {"headers_delay": SILENCE}, 0),
    "idle": ({"idle_timeout": LIMIT}, {"idle": [{"after_event": 5, "seconds": SILENCE}]}, 0),
    "max_stream_duration": ({"max_stream_duration": 1.0}, {"gap": 0.1, "deltas": 40}, 0),
    "max_body": ({"max_body_bytes": 2000}, {}, 5000),
}


def _request(addr, protocol, stream, body_size=0, **kw):
    body = messages_body(padding="x" * body_size) if body_size else messages_body()
    fn = h2_request if protocol == "h2c" else h1_request
    return fn(addr, body=body, headers=_stream_headers(**stream), **kw)


def _expected_builtin(limit, action, protocol):
    if limit == "max_body":
        return "http_error(413, request_too_large)"
    before_headers = limit == "first_byte"
    if action == "status":
        if before_headers:
            return "http_error(524, timeout_error)"
        action = "rst_stream" if protocol == "h2c" else "fin"
    if action == "rst":
        return "reset_before_headers" if before_headers else "reset_mid_stream"
    if action == "fin":
        return "fin_before_headers" if before_headers else "fin_mid_stream"
    if action == "rst_stream":
        return "h2_rst_stream(2)"
    return "h2_goaway(2)"


BUILTIN = [(limit, action, "http1") for limit in SCENARIOS for action in ("rst", "fin", "status")]
BUILTIN += [(limit, action, "h2c") for limit in ("first_byte", "idle", "max_stream_duration")
            for action in ("rst_stream", "goaway", "status")]


@pytest.mark.parametrize("limit, action, protocol", BUILTIN)
def test_builtin_edge_does_what_the_policy_says(origin, limit, action, protocol):
    kw, stream, body = SCENARIOS[limit]
    policy = EdgePolicy(client_protocol=protocol, on_limit=action, **kw)
    with edge_thread(policy, origin.info.address) as edge:
        res = _request(edge.info.address, protocol, stream, body)
        time.sleep(0.05)
        rec = edge.info.records[-1]
    assert observe(res) == _expected_builtin(limit, action, protocol)
    assert rec["limit"] == limit
    if limit != "max_body":
        assert rec["action"] in (action, "fin", "rst_stream")


def test_builtin_edge_relays_a_complete_stream_untouched(origin):
    with edge_thread(EdgePolicy(idle_timeout=5, first_byte_timeout=5), origin.info.address) as edge:
        via_edge = _request(edge.info.address, "http1", {})
    direct = _request(origin.info.address, "http1", {})
    assert observe(via_edge) == "completed"
    assert [e for e, _ in via_edge.events()] == [e for e, _ in direct.events()]
    assert via_edge.headers["request-id"].startswith("req_")


def test_builtin_edge_send_stall_resets_a_stream_stuck_on_flow_control(origin):
    # the client advertises a 1 KB window and never returns credit: the edge cannot send
    policy = EdgePolicy(client_protocol="h2c", send_stall_timeout=LIMIT, on_limit="rst_stream", h2_error_code=8)
    with edge_thread(policy, origin.info.address) as edge:
        res = _request(edge.info.address, "h2c", {"deltas": 200}, window=1024, ack=False)
        time.sleep(0.05)
        rec = edge.info.records[-1]
    assert observe(res) == "h2_rst_stream(8)"
    assert rec["limit"] == "send_stall"


@pytest.mark.parametrize("protocol", ["http1", "h2c"])
def test_builtin_edge_mirrors_an_upstream_reset(origin, protocol):
    plan = json.dumps([{"when": {"after_events": 5}, "do": {"tcp_rst": {}}}])
    with edge_thread(EdgePolicy(client_protocol=protocol), origin.info.address) as edge:
        fn = h2_request if protocol == "h2c" else h1_request
        res = fn(edge.info.address, body=messages_body(), headers={**KEY, "x-resetlab-plan": plan})
        time.sleep(0.05)
        rec = edge.info.records[-1]
    assert observe(res) == ("h2_rst_stream(2)" if protocol == "h2c" else "reset_mid_stream")
    assert rec["upstream_error"] == "reset"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _keepalive_closed_after(addr, idle):
    """One request on a keep-alive connection, then wait: when does the edge close it?"""
    s = socket.create_connection(addr, timeout=idle * 6)
    req = (b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n")
    s.sendall(req)
    s.recv(65536)
    t0 = time.monotonic()
    try:
        data = s.recv(65536)
        return ("fin" if data == b"" else "data"), time.monotonic() - t0
    except ConnectionResetError:
        return "reset", time.monotonic() - t0
    except TimeoutError:
        return "open", time.monotonic() - t0
    finally:
        s.close()


def test_builtin_edge_closes_idle_keepalive_connections(origin):
    with edge_thread(EdgePolicy(client_idle_timeout=LIMIT), origin.info.address) as edge:
        how, after = _keepalive_closed_after(edge.info.address, LIMIT)
    assert how == "fin" and LIMIT * 0.8 <= after <= LIMIT + 1.0


@pytest.mark.parametrize("proxy, limit, protocol", sorted(OBSERVED))
def test_real_edge_trips_each_limit_as_measured(origin, proxy, limit, protocol):
    if not available(proxy):
        skip_if(f"{proxy} not installed (scripts/setup.sh installs it)")
    port = _free_port()
    if limit == "client_idle":
        policy = EdgePolicy(client_idle_timeout=LIMIT)
    else:
        policy = EdgePolicy(client_protocol=protocol, **SCENARIOS[limit][0])
    upstream = f"{origin.info.host}:{origin.info.port}"
    with RealEdge(proxy, policy, f"127.0.0.1:{port}", upstream) as edge:
        if limit == "client_idle":
            how, after = _keepalive_closed_after(("127.0.0.1", port), LIMIT)
            seen = how
            assert after <= LIMIT + 1.5
        else:
            _, stream, body = SCENARIOS[limit]
            seen = observe(_request(("127.0.0.1", port), protocol, stream, body))
        assert edge.proc.poll() is None, edge.log_tail()
    assert seen == OBSERVED[(proxy, limit, protocol)]


def test_real_edge_relays_a_complete_stream(origin):
    for proxy in ("nginx", "haproxy"):
        if not available(proxy):
            continue
        port = _free_port()
        with RealEdge(proxy, EdgePolicy(idle_timeout=5), f"127.0.0.1:{port}",
                      f"{origin.info.host}:{origin.info.port}"):
            assert observe(_request(("127.0.0.1", port), "http1", {})) == "completed"


def test_real_edge_config_says_what_it_cannot_express():
    policy = EdgePolicy(max_stream_duration=5, first_byte_timeout=1, idle_timeout=2)
    for proxy in ("nginx", "haproxy"):
        lost = RealEdge(proxy, policy, "127.0.0.1:1", "127.0.0.1:2").unsupported
        assert "max_stream_duration" in lost
        assert any(item.startswith("first_byte_timeout != idle_timeout") for item in lost)


@pytest.mark.parametrize("kwargs, field", [
    ({"idle_timeout": -1}, "EdgePolicy.idle_timeout"),
    ({"max_body_bytes": 0}, "EdgePolicy.max_body_bytes"),
    ({"client_protocol": "h3"}, "EdgePolicy.client_protocol"),
    ({"on_limit": "explode"}, "EdgePolicy.on_limit"),
    ({"on_limit": "goaway"}, "EdgePolicy.on_limit"),  # needs h2c
    ({"status": 200}, "EdgePolicy.status"),
])
def test_bad_policy_gives_one_line(kwargs, field):
    with pytest.raises(ConfigError) as info:
        EdgePolicy(**kwargs)
    assert str(info.value).startswith(f"{field}: got ") and "\n" not in str(info.value)


def test_policy_scales_durations_only():
    p = EdgePolicy(idle_timeout=100, max_body_bytes=10, client_idle_timeout=400).scaled(0.01)
    assert (p.idle_timeout, p.client_idle_timeout, p.max_body_bytes) == (1.0, 4.0, 10)
    assert EdgePolicy.from_dict(p.to_dict()) == p


def test_edge_cli_ready_line_and_bad_input(origin):
    import subprocess
    import sys

    up = f"{origin.info.host}:{origin.info.port}"
    bad = subprocess.run([sys.executable, "-m", "harness", "edge", "--upstream", up, "--policy", '{"idle": 1}'],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--policy.idle: got 1" in bad.stderr
    proc = subprocess.Popen([sys.executable, "-m", "harness", "edge", "--upstream", up, "--policy",
                             '{"idle_timeout": 5}'], stdout=subprocess.PIPE, text=True)
    try:
        words = proc.stdout.readline().split()
        assert words[:4] == ["resetlab", "edge", "listening", "on"] and words[5] == "impl=builtin"
        host, port = words[4].rsplit("/", 1)[1].rsplit(":", 1)
        assert observe(_request((host, int(port)), "http1", {})) == "completed"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


@pytest.mark.parametrize("protocol", ["http1", "h2c"])
def test_builtin_edge_relays_a_large_upload(origin, protocol):
    # bodies bigger than one socket read must be read before the close watcher starts
    with edge_thread(EdgePolicy(idle_timeout=5), origin.info.address) as edge:
        res = _request(edge.info.address, protocol, {}, body_size=3_000_000)
        time.sleep(0.05)
        rec = edge.info.records[-1]
    assert observe(res) == "completed"
    assert rec["body_bytes"] > 3_000_000
