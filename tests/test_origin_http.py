"""Routes, error shapes, headers, and the three transports (HTTP/1.1, h2c, TLS with ALPN)."""

import json
import re
import socket
import ssl
import time

import h11
import pytest

from harness.origin import OriginConfig, OriginThread
from harness.origin.bench import big_body
from harness.origin.testing import h1_request, h2_request, messages_body

MAX = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def origin():
    with OriginThread(OriginConfig(stream={"deltas": 3})) as o:
        yield o.info


@pytest.fixture(scope="module")
def small_origin():
    with OriginThread(OriginConfig(max_body_bytes=1000, stream={"deltas": 1})) as o:
        yield o.info


@pytest.fixture(scope="module")
def tls_origin():
    with OriginThread(OriginConfig(tls=True, stream={"deltas": 3})) as o:
        yield o.info


def assert_error(r, status, err_type, retry):
    assert r.status == status
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error" and body["error"]["type"] == err_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"] == r.headers["request-id"]
    assert re.fullmatch(r"req_[A-Za-z0-9]{24}", body["request_id"])
    assert r.headers["x-should-retry"] == retry


def test_404_in_api_error_shape(origin):
    r = h1_request(origin.address, "GET", "/v1/models")
    assert_error(r, 404, "not_found_error", "false")
    r = h2_request(origin.address, "POST", "/v1/complete", body=b"{}")
    assert_error(r, 404, "not_found_error", "false")


def test_401_without_api_key_but_bearer_is_fine(origin):
    r = h1_request(origin.address, body=messages_body(), headers={"x-api-key": None})
    assert_error(r, 401, "authentication_error", "false")
    r = h1_request(origin.address, body=messages_body(),
                   headers={"x-api-key": None, "authorization": "Bearer tok"})
    assert r.status == 200 and r.end == "complete"


def test_400_on_invalid_json(origin):
    r = h1_request(origin.address, body=b'{"model": "x", ')
    assert_error(r, 400, "invalid_request_error", "false")
    assert "JSON" in r.json()["error"]["message"]


def test_413_from_content_length_without_reading_the_body(origin):
    r = h1_request(origin.address, body=b"", headers={"content-length": str(MAX + 1)},
                   send_body=False)
    assert_error(r, 413, "request_too_large", "false")
    assert r.headers["connection"] == "close"


def test_413_while_reading_a_chunked_body(small_origin):
    r = h1_request(small_origin.address, body=messages_body(pad="z" * 2000),
                   headers={"transfer-encoding": "chunked"})
    assert_error(r, 413, "request_too_large", "false")
    r = h2_request(small_origin.address, body=messages_body(pad="z" * 2000))
    assert r.status == 413 and r.json()["error"]["type"] == "request_too_large"
    assert h1_request(small_origin.address, body=messages_body()).status == 200  # under limit


def _record(info, request_id: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in list(info.records):
            if rec["request_id"] == request_id:
                return rec
        time.sleep(0.01)
    raise AssertionError(f"no request-log record for {request_id}")


def _send_big(origin, proto: str, framing: str, body: bytes):
    if proto == "http/1.1":
        headers = {"transfer-encoding": "chunked"} if framing == "chunked" else None
        return h1_request(origin.address, body=body, headers=headers, timeout=30)
    headers = {"content-length": str(len(body))} if framing == "content-length" else None
    return h2_request(origin.address, body=body, headers=headers, timeout=30)


BIG = [("http/1.1", "content-length"), ("http/1.1", "chunked"), ("h2c", "no length"),
       ("h2c", "content-length")]


@pytest.mark.parametrize(("proto", "framing"), BIG)
def test_32mb_body_is_accepted_exactly_at_the_limit(origin, proto, framing):
    body = big_body(MAX)  # a long session's shape, exactly 32 * 1024 * 1024 bytes
    assert len(body) == MAX and json.loads(body)["stream"] is True
    r = _send_big(origin, proto, framing, body)
    assert (r.status, r.end) == (200, "complete"), (r.status, r.end, r.body[:200])
    assert r.headers["content-type"] == "text/event-stream"
    assert r.events()[-1][0] == "message_stop"
    rec = _record(origin, r.headers["request-id"])
    assert rec["protocol"] == proto and rec["body_bytes"] == MAX and rec["outcome"] == "completed"
    assert rec["served"] == "stream"


@pytest.mark.parametrize(("proto", "framing"), BIG)
def test_32mb_plus_one_byte_is_413_request_too_large(origin, proto, framing):
    body = big_body(MAX + 1)
    r = _send_big(origin, proto, framing, body)
    assert_error(r, 413, "request_too_large", "false")
    if proto == "http/1.1":
        assert r.end == "complete" and r.headers["connection"] == "close"
    else:  # a complete response, then RST_STREAM(NO_ERROR) for the unread upload
        assert r.end == "complete" or (r.end, r.error_code) == ("rst_stream", 0)
    rec = _record(origin, r.headers["request-id"])
    assert (rec["status"], rec["error_type"], rec["served"]) == (413, "request_too_large", "error")
    if framing == "content-length":
        assert rec["body_bytes"] == 0  # refused from the header, body never read
    else:
        assert MAX < rec["body_bytes"] <= MAX + 1  # read until it went over, not further


def test_per_request_plan_header_error_is_400_naming_the_field(origin):
    r = h1_request(origin.address, body=messages_body(),
                   headers={"x-resetlab-plan": '[{"do": {"tcp_rest": {}}}]'})
    assert_error(r, 400, "invalid_request_error", "false")
    assert r.json()["error"]["message"].startswith("x-resetlab-plan[0].do: ")


def test_head_root_and_count_tokens(origin):
    r = h1_request(origin.address, "HEAD", "/")
    assert r.status == 200 and r.body == b"" and r.headers["request-id"].startswith("req_")
    r = h1_request(origin.address, "POST", "/v1/messages/count_tokens", body=messages_body())
    assert r.status == 200 and r.json()["input_tokens"] > 0


def test_beta_query_is_the_same_endpoint(origin):
    r = h1_request(origin.address, path="/v1/messages?beta=true", body=messages_body())
    assert r.status == 200 and r.events()[-1][0] == "message_stop"


def test_rate_limit_headers_on_success(origin):
    r = h1_request(origin.address, body=messages_body(stream=False))
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert int(r.headers[f"anthropic-ratelimit-{kind}-limit"]) > 0
        assert r.headers[f"anthropic-ratelimit-{kind}-reset"].endswith("Z")


def test_http1_keep_alive_serves_two_requests_on_one_connection(origin):
    sock = socket.create_connection(origin.address, timeout=5)
    conn = h11.Connection(h11.CLIENT)
    body = messages_body()
    statuses = []
    for _ in range(2):
        headers = [("host", "x"), ("x-api-key", "k"), ("content-length", str(len(body)))]
        sock.sendall(conn.send(h11.Request(method="POST", target="/v1/messages", headers=headers))
                     + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        data = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                statuses.append(event.status_code)
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert data.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        conn.start_next_cycle()
    sock.close()
    assert statuses == [200, 200]


def test_h2c_prior_knowledge(origin):
    r = h2_request(origin.address, body=messages_body())
    assert r.status == 200 and r.end == "complete" and r.alpn is None
    assert r.headers["content-type"] == "text/event-stream"
    assert "connection" not in r.headers  # no HTTP/1-only headers on HTTP/2


def test_tls_alpn_h2(tls_origin):
    assert tls_origin.url.startswith("https://127.0.0.1:")
    r = h2_request(tls_origin.address, body=messages_body(), ca=tls_origin.ca_path)
    assert r.alpn == "h2" and r.status == 200 and r.end == "complete"
    assert r.events()[-1][0] == "message_stop"


def test_tls_alpn_http11(tls_origin):
    r = h1_request(tls_origin.address, body=messages_body(), ca=tls_origin.ca_path)
    assert r.alpn == "http/1.1" and r.status == 200 and r.end == "complete"
    assert len(r.events()) == 9


def test_tls_faults_still_reach_the_client(tls_origin):
    plan = {"x-resetlab-plan": json.dumps([{"when": {"after_events": 2}, "do": {"tcp_rst": {}}}])}
    r = h1_request(tls_origin.address, body=messages_body(), ca=tls_origin.ca_path, headers=plan)
    assert r.end == "reset" and len(r.events()) == 2
    plan = {"x-resetlab-plan": json.dumps([{"when": {"after_events": 2},
                                            "do": {"h2_rst_stream": {"code": 7}}}])}
    r = h2_request(tls_origin.address, body=messages_body(), ca=tls_origin.ca_path, headers=plan)
    assert r.end == "rst_stream" and r.error_code == 7


def test_tls_is_verified_against_the_test_ca_only(tls_origin):
    with open(tls_origin.ca_path) as f:
        assert f.read().startswith("-----BEGIN CERTIFICATE-----")
    ctx = ssl.create_default_context()  # system trust store: must not trust our test CA
    with socket.create_connection(tls_origin.address, timeout=5) as sock:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def test_tls_offering_only_http11_when_configured():
    with OriginThread(OriginConfig(tls=True, alpn=("http/1.1",))) as o:
        r = h1_request(o.info.address, body=messages_body(), ca=o.info.ca_path)
        assert r.alpn == "http/1.1" and r.status == 200


def test_expect_100_continue_is_answered(origin):
    body = messages_body()
    with socket.create_connection(origin.address, timeout=2) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\n"
                     b"expect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(body))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")  # before we send any body
        sock.sendall(body)
        assert b"HTTP/1.1 200 " in sock.recv(4096)
