"""The Python API: start the origin inside a trio nursery, talk to it with trio sockets."""

import json

import pytest
import trio

from harness.origin import OriginConfig, SpecError, serve_origin
from harness.origin.testing import messages_body, parse_sse


async def _post(address, headers=None, body=None):
    """A minimal HTTP/1.1 client on trio; `connection: close` so EOF ends the response."""
    body = messages_body() if body is None else body
    stream = await trio.open_tcp_stream(*address)
    lines = ["POST /v1/messages HTTP/1.1", "host: x", "x-api-key: k", "connection: close",
             f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    data = b""
    while chunk := await stream.receive_some():
        data += chunk
    await stream.aclose()
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode(), _dechunk(rest)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, data = out + data[:n], data[n + 2:]
    return out


def test_nursery_start_returns_the_bound_address():
    async def main():
        async with trio.open_nursery() as nursery:
            info = await nursery.start(serve_origin, OriginConfig(port=0, stream={"deltas": 2}))
            assert info.address[0] == "127.0.0.1" and info.address[1] > 0
            assert info.url == f"http://127.0.0.1:{info.port}"
            head, body = await _post(info.address)
            assert head.startswith("HTTP/1.1 200 ")
            assert [n for n, _ in parse_sse(body)][-1] == "message_stop"
            assert len(info.records) == 1 and info.records[0]["served"] == "stream"
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_many_concurrent_streams_with_faults_on_some():
    plan = json.dumps([{"when": {"after_events": 3}, "do": {"fin": {}}}])

    async def main():
        results = {}
        async with trio.open_nursery() as nursery:
            info = await nursery.start(serve_origin, OriginConfig(stream={"deltas": 5, "gap": 0.01}))

            async def one(i):
                headers = {"x-resetlab-plan": plan} if i % 2 else {}
                _, body = await _post(info.address, headers)
                results[i] = [n for n, _ in parse_sse(body)]

            async with trio.open_nursery() as clients:
                for i in range(20):
                    clients.start_soon(one, i)
            nursery.cancel_scope.cancel()
        for i, names in results.items():
            if i % 2:
                assert len(names) == 3 and "message_stop" not in names
            else:
                assert names[-1] == "message_stop" and len(names) == 11
        assert len(results) == 20

    trio.run(main)


def test_bad_plan_in_config_fails_at_construction():
    with pytest.raises(SpecError, match=r"plan\[0\]\.do\.fin\.x"):
        OriginConfig(plan=[{"do": {"fin": {"x": 1}}}])
