"""Each fault action, observed from the client's own socket / protocol object."""

import errno
import json
import socket
import time

import h2.config
import h2.connection
import h2.events
import pytest

from harness.origin import OriginConfig, OriginThread
from harness.origin.testing import h1_request, h2_request, messages_body, wait_records

STREAM = {"deltas": 20, "ping_interval": None}


@pytest.fixture(scope="module")
def origin():
    with OriginThread(OriginConfig(stream=STREAM)) as o:
        yield o.info


def plan(rules, **stream):
    headers = {"x-resetlab-plan": rules if isinstance(rules, str) else json.dumps(rules)}
    if stream:
        headers["x-resetlab-stream"] = json.dumps(stream)
    return headers


def last_record(info, request_id):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for rec in list(info.records):
            if rec["request_id"] == request_id:
                return rec
        time.sleep(0.01)
    raise AssertionError(f"no log record for {request_id}")


def find_record(info, predicate):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [r for r in list(info.records) if predicate(r)]
        if found:
            return found[-1]
        time.sleep(0.01)
    raise AssertionError("no matching log record")


def test_tcp_rst_after_5_events_is_econnreset(origin):
    r = h1_request(origin.address, body=messages_body(),
                   headers=plan('[{"when": {"after_events": 5}, "do": {"tcp_rst": {}}}]'))
    assert r.status == 200
    assert r.end == "reset" and r.errno == errno.ECONNRESET
    assert len(r.events()) == 5  # everything sent before the RST still arrived
    rec = last_record(origin, r.headers["request-id"])
    assert rec["injected"] == "tcp_rst" and rec["events"] == 5 and rec["outcome"] == "injected"
    assert rec["actions"][0]["phase"] == "stream"


def test_tcp_rst_before_response_headers(origin):
    rules = '[{"when": {"phase": "before_response_headers"}, "do": {"tcp_rst": {}}}]'
    r = h1_request(origin.address, body=messages_body(), headers=plan(rules))
    assert r.status is None and r.end == "reset" and r.errno == errno.ECONNRESET
    r = h2_request(origin.address, body=messages_body(), headers=plan(rules))
    assert r.status is None and r.end == "reset"


def test_fin_mid_stream_is_clean_eof_without_message_stop(origin):
    r = h1_request(origin.address, body=messages_body(),
                   headers=plan([{"when": {"after_events": 4}, "do": {"fin": {}}}]))
    assert r.status == 200 and r.end == "eof" and r.errno is None
    names = [n for n, _ in r.events()]
    assert len(names) == 4 and "message_stop" not in names


def test_after_bytes_cuts_inside_an_event(origin):
    r = h1_request(origin.address, body=messages_body(),
                   headers=plan([{"when": {"after_bytes": 100}, "do": {"fin": {}}}]))
    assert r.end == "eof" and len(r.body) == 100  # exactly, mid-event


def test_h2_rst_stream_code_visible_to_h2_client(origin):
    r = h2_request(origin.address, body=messages_body(),
                   headers=plan([{"when": {"after_events": 6}, "do": {"h2_rst_stream": {"code": 2}}}]))
    assert r.status == 200 and r.end == "rst_stream" and r.error_code == 2
    assert len(r.events()) == 6


def test_after_seconds_fires_during_a_long_silence(origin):
    # The example uses 30 s; same rule scaled down. The stream would be silent for
    # 10 s after event 4, so only the injector's deadline wake-up can fire it on time.
    rules = [{"when": {"after_seconds": 0.3}, "do": {"h2_rst_stream": {"code": 2}}}]
    r = h2_request(origin.address, body=messages_body(),
                   headers=plan(rules, deltas=3, gaps=[0, 0, 0, 10]))
    assert r.end == "rst_stream" and r.error_code == 2
    assert 0.25 <= r.t_end < 1.5
    assert len(r.events()) == 4


def test_h2_goaway_with_code_and_last_stream_id(origin):
    rules = [{"when": {"after_events": 3}, "do": {"h2_goaway": {"code": "ENHANCE_YOUR_CALM"}}}]
    r = h2_request(origin.address, body=messages_body(), headers=plan(rules))
    assert r.end == "goaway" and r.error_code == 11 and r.last_stream_id == 1
    rules = [{"when": {"after_events": 3}, "do": {"h2_goaway": {"code": 0, "last_stream_id": 0}}}]
    r = h2_request(origin.address, body=messages_body(), headers=plan(rules))
    assert r.end == "goaway" and r.error_code == 0 and r.last_stream_id == 0


def test_h2_actions_do_not_apply_to_http1(origin):
    r = h1_request(origin.address, body=messages_body(),
                   headers=plan([{"when": {"after_events": 3}, "do": {"h2_rst_stream": {}}}]))
    assert r.end == "complete"
    rec = last_record(origin, r.headers["request-id"])
    assert rec["injected"] is None and rec["not_applicable"] == ["rule 0: h2_rst_stream"]


def test_http_status_529_for_attempts_1_and_2_then_served(origin):
    rules = ('[{"when": {"phase": "before_response_headers"}, "do": {"http_status": {"status": 529, '
             '"type": "overloaded_error", "headers": {"x-should-retry": "true"}}}, "attempts": [1, 2]}]')
    seen = []
    for attempt in (1, 2, 3):
        r = h1_request(origin.address, body=messages_body(),
                       headers={**plan(rules), "x-resetlab-attempt": str(attempt)})
        seen.append(r.status)
        if r.status == 529:
            assert r.headers["x-should-retry"] == "true"
            assert r.json() == {"type": "error", "error": {"type": "overloaded_error",
                                                           "message": "Overloaded"},
                                "request_id": r.headers["request-id"]}
    assert seen == [529, 529, 200]
    assert r.events()[-1][0] == "message_stop"


def test_attempts_by_stainless_retry_count_and_by_counter(origin):
    rules = [{"do": {"http_status": {"status": 529}}, "attempts": [1, 2]}]
    by_header = [h1_request(origin.address, body=messages_body(),
                            headers={**plan(rules), "x-stainless-retry-count": str(k)}).status
                 for k in (0, 1, 2)]
    assert by_header == [529, 529, 200]
    body = messages_body(metadata={"user_id": "counter-test"})  # a body no other test sends
    by_counter = [h1_request(origin.address, body=body, headers=plan(rules)).status
                  for _ in range(3)]
    assert by_counter == [529, 529, 200]
    rec = find_record(origin, lambda r: r["attempt_source"] == "counter" and r["attempt"] == 3
                      and r["body_bytes"] == len(body))
    assert rec["status"] == 200


def test_sse_error_event_then_clean_end(origin):
    rules = [{"when": {"after_events": 4}, "do": {"sse_error": {"type": "overloaded_error"}}}]
    r = h1_request(origin.address, body=messages_body(), headers=plan(rules))
    assert r.status == 200 and r.end == "complete"
    events = r.events()
    assert len(events) == 5
    assert events[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                               "message": "Overloaded"}})


def test_sse_error_waits_for_an_event_boundary(origin):
    rules = [{"when": {"after_bytes": 50}, "do": {"sse_error": {"type": "api_error"}}}]
    r = h1_request(origin.address, body=messages_body(), headers=plan(rules))
    events = r.events()  # parse_sse would raise on a torn event glued to the error event
    assert events[0][0] == "message_start" and events[1][0] == "error"


def test_stall_seconds_then_continue_without_pings(origin):
    rules = [{"when": {"after_events": 3}, "do": {"stall": {"seconds": 0.5}}}]
    r = h1_request(origin.address, body=messages_body(),
                   headers=plan(rules, deltas=3, ping_interval=0.1))
    times = r.event_times()
    assert r.end == "complete" and [n for _, n in times][-1] == "message_stop"
    assert times[3][0] - times[2][0] >= 0.45
    assert [n for _, n in times].count("ping") == 1  # a stall is silence: no keep-alive pings


def test_stall_forever_then_idle_budget_resets(origin):
    # Composition: upstream stalls, an idle budget kills the stream (H1-style edge).
    rules = [{"when": {"after_events": 3}, "do": {"stall": {"forever": True}}},
             {"when": {"phase": "stream", "idle_seconds_over": 0.3}, "do": {"tcp_rst": {}}}]
    r = h1_request(origin.address, body=messages_body(), headers=plan(rules))
    assert r.end == "reset" and len(r.events()) == 3
    assert 0.25 <= r.t_end < 1.5
    rec = last_record(origin, r.headers["request-id"])
    assert [a["action"] for a in rec["actions"]] == ["stall", "tcp_rst"]


def test_stall_forever_ends_when_client_leaves(origin):
    rules = [{"when": {"after_events": 2}, "do": {"stall": {"forever": True}}}]
    r = h1_request(origin.address, body=messages_body(), headers=plan(rules), timeout=0.3)
    assert r.end == "timeout"
    rec = last_record(origin, r.headers["request-id"])
    assert rec["outcome"] == "client_closed"


def test_drip_slows_the_response(origin):
    rules = [{"when": {"phase": "before_response_headers"}, "do": {"drip": {"bytes_per_second": 2000}}}]
    r = h1_request(origin.address, body=messages_body(), headers=plan(rules, deltas=5))
    assert r.end == "complete"
    expected = len(r.body) / 2000
    assert r.t_end >= expected * 0.8 and len(r.chunks) >= 10
    fast = h1_request(origin.address, body=messages_body(), headers=plan([], deltas=5))
    assert fast.t_end < expected / 3


def test_body_bytes_over_resets_during_upload(origin):
    rules = [{"when": {"phase": "request_body", "body_bytes_over": 100_000}, "do": {"tcp_rst": {}}}]
    big = messages_body(pad="x" * 4_000_000)
    r = h1_request(origin.address, body=big, headers=plan(rules))
    assert r.status is None and r.end == "reset"
    rec = find_record(origin, lambda x: x["injected"] == "tcp_rst"
                      and x["actions"][0]["phase"] == "request_body")
    assert 100_000 < rec["body_bytes"] < 4_000_000


def test_body_size_times_duration_budget(origin):
    # 10 kB body, budget 3000 byte-seconds -> fires 0.3 s after the request, while the
    # origin is still "thinking" (headers_delay 2 s): a reset before response headers.
    rules = [{"when": {"body_bytes_times_seconds_over": 3000}, "do": {"tcp_rst": {}}}]
    body = messages_body(pad="y" * (10_000 - len(messages_body()) - 10))
    r = h1_request(origin.address, body=body, headers=plan(rules, headers_delay=2))
    assert r.status is None and r.end == "reset"
    assert 0.2 <= r.t_end < 1.0


def test_streaming_condition_targets_the_non_streaming_fallback(origin):
    rules = [{"when": {"streaming": False}, "do": {"tcp_rst": {}}}]
    assert h1_request(origin.address, body=messages_body(stream=True),
                      headers=plan(rules)).end == "complete"
    assert h1_request(origin.address, body=messages_body(stream=False),
                      headers=plan(rules)).end == "reset"


def test_h2_flow_control_stall_then_idle_rst_stream(origin):
    # H4 in miniature: the client stops returning window credit; the server blocks on
    # flow control, and an idle rule fires while it is blocked.
    rules = [{"when": {"phase": "stream", "idle_seconds_over": 0.3},
              "do": {"h2_rst_stream": {"code": "CANCEL"}}}]
    r = h2_request(origin.address, body=messages_body(), headers=plan(rules, deltas=200),
                   window=1000, ack=False)
    assert r.end == "rst_stream" and r.error_code == 8
    assert len(r.body) <= 1000 and r.body.count(b"message_stop") == 0


def test_rst_stream_leaves_other_h2_streams_alone(origin):
    sock = socket.create_connection(origin.address, timeout=5)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                 header_encoding="utf-8"))
    conn.initiate_connection()
    body = messages_body()
    base = [(":method", "POST"), (":path", "/v1/messages"), (":scheme", "http"),
            (":authority", "x"), ("x-api-key", "k"), ("content-type", "application/json")]
    killed = base + [("x-resetlab-plan", json.dumps(
        [{"when": {"after_events": 2}, "do": {"h2_rst_stream": {"code": 1}}}]))]
    for sid, headers in ((1, killed), (3, base)):
        conn.send_headers(sid, headers)
        conn.send_data(sid, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    ended, reset = set(), {}
    while len(ended | set(reset)) < 2:
        data = sock.recv(65536)
        assert data, "connection closed"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.StreamEnded):
                ended.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                reset[ev.stream_id] = ev.error_code
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        sock.sendall(conn.data_to_send())
    sock.close()
    assert reset == {1: 1} and ended == {3}


def test_rules_fire_once_and_plan_header_replaces_server_plan():
    server_plan = [{"when": {"after_events": 2}, "do": {"tcp_rst": {}}}]
    with OriginThread(OriginConfig(plan=server_plan, stream={"deltas": 3})) as o:
        assert h1_request(o.info.address, body=messages_body()).end == "reset"
        r = h1_request(o.info.address, body=messages_body(), headers=plan([]))
        assert r.end == "complete"
        records = wait_records(o.info.records, 2)
        assert [x["plan_source"] for x in records] == ["server", "header"]
