"""The real clients (anthropic Python SDK, @anthropic-ai/sdk on Node, Claude Code 2.1.104)
against the mock origin, one fault at a time: the classified outcome, what the client
printed, and its retries as the origin logged them must match the facts file
(shared/reference/api-and-clients.md) - or, where a measurement differs, the measurement,
marked MEASURED below and listed in harness/clients/README.md.

Faults (the origin's stream: message_start, content_block_start, ping, 5 text deltas,
content_block_stop, message_delta, message_stop = 11 scripted events):
    rst_pre    TCP RST before response headers (every attempt)
    rst_early  TCP RST after 4 events: mid-stream, before the first block ends
    rst_late   TCP RST after 9 events: right after content_block_stop
    fin_early  FIN after 4 events              fin_late   FIN after 9 events
    sse_early  `event: error` overloaded_error after 4 events     sse_late  ... after 9
    529        HTTP 529 overloaded_error + x-should-retry: true (every attempt)
    stall      no byte after 4 events (the client's timeout / our deadline ends it)
    stall_pre  no response headers (the client's header timeout ends it)
Every test keeps max_retries at 2 (1 for stall_pre) so a failing probe takes seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import threading
from dataclasses import replace

import pytest

from harness.clients import claude_code, node_sdk, python_sdk, retries
from harness.clients.probe import Probe
from harness.origin import OriginConfig, OriginThread
from harness.outcome import validate
from tests.requires import installed, needs, skip_if, skip_reason

RETRIES = 2
FAULTS = {
    "none": [],
    "rst_pre": [{"when": {"phase": "before_response_headers"}, "do": {"tcp_rst": {}}}],
    "rst_early": [{"when": {"after_events": 4}, "do": {"tcp_rst": {}}}],
    "rst_late": [{"when": {"after_events": 9}, "do": {"tcp_rst": {}}}],
    "fin_early": [{"when": {"after_events": 4}, "do": {"fin": {}}}],
    "fin_late": [{"when": {"after_events": 9}, "do": {"fin": {}}}],
    "sse_early": [{"when": {"after_events": 4}, "do": {"sse_error": {"type": "overloaded_error"}}}],
    "sse_late": [{"when": {"after_events": 9}, "do": {"sse_error": {"type": "overloaded_error"}}}],
    "529": [{"when": {"phase": "before_response_headers"},
             "do": {"http_status": {"status": 529, "type": "overloaded_error",
                                    "headers": {"x-should-retry": "true"}}}}],
    "stall": [{"when": {"after_events": 4}, "do": {"stall": {"forever": True}}}],
    "stall_pre": [{"when": {"phase": "before_response_headers"}, "do": {"stall": {"forever": True}}}],
}
SDK_FAULTS = ["none", "rst_pre", "rst_early", "rst_late", "fin_early", "sse_early", "529", "stall",
              "stall_pre"]
CC_FAULTS = ["none", "rst_pre", "rst_early", "rst_late", "fin_early", "fin_late", "sse_early",
             "sse_late", "529", "stall", "stall_pre"]


NODE_SKIP = skip_reason(node_sdk.FOLDER, "the Node SDK and Claude Code runners")
needs_node = needs(NODE_SKIP)


@pytest.fixture(scope="module", autouse=True)
def no_route_out():
    """Every test here runs inside a namespace of its own with no route out: the origin
    (threads started from here), the clients and whatever they spawn can reach only its
    loopback -- a real client that tried DNS or the internet fails at once, never leaves."""
    from netem import Topology, chain, nsexec

    if NODE_SKIP is None:  # npm ci (if any) needs the network: before going in
        installed(node_sdk.FOLDER), installed(claude_code.FOLDER)
    with Topology(chain("lab", "void")) as topo, nsexec.entered(topo["lab"].netns):
        with open("/proc/thread-self/net/route") as f:  # this thread's namespace: no default route
            assert not [ln for ln in f.read().splitlines()[1:] if ln.split()[1] == "00000000"]
        yield


@pytest.fixture(scope="session")
def node_folder():
    return installed(node_sdk.FOLDER)


@pytest.fixture(scope="session")
def claude_folder():
    return installed(claude_code.FOLDER)


@pytest.fixture(scope="module")
def origin():
    # gap: the stream takes ~0.2 s, so "after N events" faults land mid-stream for real
    with OriginThread(OriginConfig(stream={"deltas": 5, "gap": 0.02})) as o:
        yield o.info


def probe_for(origin, fault: str, **kw) -> Probe:
    kw.setdefault("max_retries", RETRIES)
    kw.setdefault("timeout", 10.0)
    return Probe(base_url=origin.url, size=kw.pop("size", 4000), lab_plan=FAULTS[fault],
                 origin_records=origin.records, **kw)


def checked(record) -> dict:
    d = record.to_dict()
    print(json.dumps(d, indent=1))  # shown when the test fails
    validate(d)
    json.dumps(d)  # one JSON object per probe
    return d


def assert_backoff(delays: list[float], base: float, cap: float, *, jitter_down: float = 0.0,
                   jitter_up: float = 0.0, extra: float = 0.0, slack: float = 0.3,
                   early: float = 0.05) -> None:
    """delays[n-1] (start-to-start, the n-th retry) within min(base*2^(n-1), cap) x jitter,
    plus `extra` (time the failed attempt itself took, e.g. a timeout), `slack` late or
    `early` early (the origin stamps a request when its headers arrive, a little after the
    client started it and its timer)."""
    for n, d in enumerate(delays, start=1):
        nominal = min(base * 2 ** (n - 1), cap)
        lo = nominal * (1 - jitter_down) + extra - early
        hi = nominal * (1 + jitter_up) + extra + slack
        assert lo <= d <= hi, f"retry {n}: {d:.3f} s not in [{lo:.3f}, {hi:.3f}] (delays {delays})"


def origin_view(origin, before: int) -> retries.OriginView:
    return retries.summarize(r for r in list(origin.records)[before:] if r.get("method") == "POST")


# -- the retry helper -----------------------------------------------------------------------


def test_retries_select_and_summarize(tmp_path):
    recs = [{"ts": 10.0, "headers": {retries.PROBE_ID_HEADER: "a"}, "timings": {"finished": 10.1}},
            {"ts": 9.0, "headers": {retries.PROBE_ID_HEADER: "b"}},
            {"ts": 10.6, "headers": {retries.PROBE_ID_HEADER: "a"}, "timings": {"finished": 10.7},
             "served": "message"}]
    view = retries.summarize(retries.select(recs, "a"))
    assert view.attempts == 2 and view.delays == [0.6] and view.gaps == [0.5]
    assert view.served == [None, "message"]
    log = tmp_path / "origin.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"torn')
    lab = Probe(base_url="http://127.0.0.1:1")
    got = retries.collect(replace(lab, origin_log=str(log)), "a", settle=0.05)
    assert got.attempts == 2
    assert retries.collect(lab, "a") is None
    assert retries.collect(replace(lab, origin_records=lambda: recs), "b", settle=0.05).attempts == 1
    pub = retries.public_probe(replace(lab, origin_records=recs, origin_log=str(log), seed=3))
    assert "origin_records" not in pub and "origin_log" not in pub and pub["seed"] == 3


# -- anthropic Python SDK -----------------------------------------------------------------


@pytest.mark.parametrize("fault", SDK_FAULTS)
def test_python_sdk(origin, fault):
    kw = {}
    if fault == "stall":
        kw = {"timeout": 1.5}
    if fault == "stall_pre":
        kw = {"timeout": 0.5, "max_retries": 1}
    d = checked(python_sdk.run(probe_for(origin, fault, **kw)))
    assert d["client"] == "python-sdk" and d["client_version"].startswith("2.")
    assert d["protocol"] in ("http/1.1", None)
    msg = d["client_message"] or ""
    if fault == "none":
        assert d["label"] == "completed" and d["attempts"] == 1 and msg == ""
        assert d["events_received"] == 10  # pings are not surfaced by the SDK
        assert d["request_id"].startswith("req_")
    elif fault == "rst_pre":
        # connection errors before headers are retried (max_retries)
        assert d["label"] == "reset_before_headers" and d["status"] is None
        assert msg == "APIConnectionError: Connection error."
        assert d["attempts"] == RETRIES + 1
        assert_backoff(d["retry_delays"], 0.5, 8.0, jitter_down=0.25)
    elif fault in ("rst_early", "rst_late"):
        # raw httpx2 error mid-stream, errno 104, NOT retried
        assert d["label"] == "reset_mid_stream" and d["status"] == 200
        assert msg == "ReadError: [Errno 104] Connection reset by peer"
        assert d["attempts"] == 1 and d["retry_delays"] == []
        assert d["events_received"] == (3 if fault == "rst_early" else 8)
        assert d["request_id"].startswith("req_")  # captured although the body failed
    elif fault == "fin_early":
        assert d["label"] == "fin_mid_stream" and d["status"] == 200
        assert msg.startswith("RemoteProtocolError: peer closed connection without sending complete "
                              "message body (incomplete chunked read)")
        assert d["attempts"] == 1
    elif fault == "sse_early":
        # MEASURED (anthropic 2.14): a generic APIStatusError with status 200, not retried
        assert d["label"] == "sse_error(overloaded_error)"
        assert msg.startswith("APIStatusError: {'type': 'error', 'error': {'type': 'overloaded_error'")
        assert d["attempts"] == 1
    elif fault == "529":
        assert d["label"] == "http_error(529, overloaded_error)"
        assert msg.startswith("OverloadedError: Error code: 529")
        assert d["attempts"] == RETRIES + 1  # x-should-retry: true is obeyed
        assert_backoff(d["retry_delays"], 0.5, 8.0, jitter_down=0.25)
    elif fault == "stall":
        # httpx's read timeout also covers the body: raw ReadTimeout mid-stream, not retried
        assert d["label"] == "timeout(body)" and msg == "ReadTimeout: timed out"
        assert d["attempts"] == 1 and 1.4 <= d["t_failure"] <= 3.0
    elif fault == "stall_pre":
        assert d["label"] == "timeout(headers)" and msg.startswith("APITimeoutError: Request timed out")
        assert d["attempts"] == 2  # timeouts before headers are retried
        assert_backoff(d["retry_delays"], 0.5, 8.0, jitter_down=0.25, extra=0.5, early=0.15)


@pytest.mark.parametrize("action, label", [
    ({}, "completed"),
    ({"h2_rst_stream": {"code": 2}}, "h2_rst_stream(2)"),
    ({"h2_goaway": {"code": 0}}, "h2_goaway(0)"),
])
def test_python_sdk_h2c(origin, action, label):
    # HTTP/2 (prior knowledge): httpx2 raises RemoteProtocolError(<StreamReset ...>) /
    # (<ConnectionTerminated ...>), mid-stream, not retried
    plan = [{"when": {"after_events": 4}, "do": action}] if action else []
    probe = Probe(base_url=origin.url, protocol="h2c", lab_plan=plan, max_retries=RETRIES,
                  origin_records=origin.records)
    d = checked(python_sdk.run(probe))
    assert d["label"] == label and d["protocol"] == "h2c" and d["attempts"] == 1


# -- @anthropic-ai/sdk on Node ----------------------------------------------------------------


@needs_node
@pytest.mark.parametrize("fault", SDK_FAULTS)
def test_node_sdk(origin, node_folder, fault):
    kw = {}
    if fault == "stall":
        kw = {"timeout": 1.5, "deadline": 3.5}
    if fault == "stall_pre":
        kw = {"timeout": 0.5, "max_retries": 1}
    d = checked(node_sdk.run(probe_for(origin, fault, **kw)))
    assert d["client"] == "node-sdk" and d["client_version"] == "1.14.0"
    msg = d["client_message"] or ""
    if fault == "none":
        assert d["label"] == "completed" and d["attempts"] == 1 and msg == ""
        assert d["events_received"] == 10 and d["request_id"].startswith("req_")
    elif fault == "rst_pre":
        assert d["label"] == "reset_before_headers" and d["status"] is None
        assert msg == ("APIConnectionError: Connection error. <- TypeError: fetch failed "
                       "<- Error: read ECONNRESET [ECONNRESET]")
        assert d["attempts"] == RETRIES + 1
        assert_backoff(d["retry_delays"], 0.5, 8.0, jitter_down=0.25)
    elif fault in ("rst_early", "rst_late"):
        # MEASURED: not the facts file's AnthropicError "terminated": the SDK rethrows undici's
        # TypeError "terminated" as is, and its cause is ECONNRESET only sometimes - often
        # undici reports the RST as "other side closed" (UND_ERR_SOCKET), i.e. like a FIN.
        # That is the client's own label (no tap here: loopback): a probe with a tap keeps it
        # in client_label and takes reset_mid_stream from the wire, which
        # tests/test_fidelity_quick.py (node-sdk / rst_after_block) checks.
        assert d["status"] == 200 and d["attempts"] == 1 and d["retry_delays"] == []
        assert msg in ("TypeError: terminated <- Error: read ECONNRESET [ECONNRESET]",
                       "TypeError: terminated <- SocketError: other side closed [UND_ERR_SOCKET]")
        expected = "reset_mid_stream" if "ECONNRESET" in msg else "fin_mid_stream"
        assert d["label"] == expected
    elif fault == "fin_early":
        assert d["label"] == "fin_mid_stream" and d["status"] == 200 and d["attempts"] == 1
        assert msg == "TypeError: terminated <- SocketError: other side closed [UND_ERR_SOCKET]"
    elif fault == "sse_early":
        # MEASURED: APIError with no status (the stream's `event: error`), not retried
        assert d["label"] == "sse_error(overloaded_error)" and d["attempts"] == 1
        assert msg.startswith('APIError: {"type":"error","error":{"type":"overloaded_error"')
    elif fault == "529":
        assert d["label"] == "http_error(529, overloaded_error)"
        assert msg.startswith("OverloadedError: 529 ")
        assert d["attempts"] == RETRIES + 1
        assert_backoff(d["retry_delays"], 0.5, 8.0, jitter_down=0.25)
    elif fault == "stall":
        # the SDK's timeout covers only the fetch (until headers): OUR deadline ended it, and
        # aborting ends the SDK's stream quietly (no error object at all)
        assert d["label"] == "timeout(body)" and d["attempts"] == 1 and msg == ""
        assert d["t_failure"] >= 3.0
    elif fault == "stall_pre":
        assert d["label"] == "timeout(headers)" and d["attempts"] == 2
        assert msg == "APIConnectionTimeoutError: Request timed out."
        assert_backoff(d["retry_delays"], 0.5, 8.0, jitter_down=0.25, extra=0.5, early=0.15)


# -- Claude Code 2.1.104 (print mode) ------------------------------------------------------


def cc_delays(delays, slack: float = 0.5):
    # min(500*2^(n-1), 32000) ms + <=25% jitter; each attempt uploads a ~100 KB body
    assert_backoff(delays, 0.5, 32.0, jitter_up=0.25, slack=slack)


@needs_node
@pytest.mark.parametrize("fault", CC_FAULTS)
def test_claude_code_print(origin, claude_folder, fault):
    kw = {}
    if fault == "stall":
        kw = {"timeout": 2.0, "deadline": 5.0}
    if fault == "stall_pre":
        kw = {"timeout": 1.0, "max_retries": 1}
    record, res = claude_code.run_detailed(probe_for(origin, fault, **kw))
    d = checked(record)
    assert d["client"] == "claude-code" and d["client_version"] == "2.1.104"
    msg = d["client_message"] or ""
    served = res.origin.served
    assert res.api_errors == []  # print mode never writes api_error records
    if fault == "none":
        assert d["label"] == "completed" and d["attempts"] == 1 and served == ["stream"]
        assert msg.strip() == "alpha bravo charlie delta echo"
    elif fault == "rst_pre":
        assert d["label"] == "reset_before_headers" and d["status"] is None
        assert msg == "API Error: Unable to connect to API (ECONNRESET)"
        assert d["attempts"] == RETRIES + 1 and served == [None] * (RETRIES + 1)
        cc_delays(d["retry_delays"])
        # stream-json says so too (MEASURED: error "unknown" for a connection reset)
        assert [(e["attempt"], e["max_retries"], e["error_status"], e["error"]) for e in res.api_retries] \
            == [(n, RETRIES, None, "unknown") for n in range(1, RETRIES + 1)]
        assert res.connection_code == "ECONNRESET"
    elif fault in ("rst_early", "fin_early", "sse_early"):
        # silent non-streaming fallback: the user sees an answer; the origin sees the streamed
        # request break, then one more request that did not ask for a stream.
        # MEASURED: FIN and `event: error` before the first block ends fall back too.
        assert d["label"] == "completed" and msg.strip() == "alpha bravo charlie delta echo"
        assert d["attempts"] == 2 and served == ["stream", "message"]
        assert res.fell_back and res.api_retries == []
        injected = {"rst_early": "tcp_rst", "fin_early": "fin", "sse_early": "sse_error"}[fault]
        assert res.origin.records[0]["injected"] == injected
    elif fault in ("rst_late", "fin_late"):
        # after a block completed: "API Error: terminated", no retry, no fallback
        assert msg == "API Error: terminated" and d["attempts"] == 1 and not res.fell_back
        assert d["status"] == 200
        if fault == "fin_late":
            assert d["label"] == "fin_mid_stream" and res.connection_code == "UND_ERR_SOCKET"
        else:
            # MEASURED: Node's undici reports the RST as ECONNRESET only sometimes
            assert res.connection_code in ("ECONNRESET", "UND_ERR_SOCKET")
            expected = "reset_mid_stream" if res.connection_code == "ECONNRESET" else "fin_mid_stream"
            assert d["label"] == expected
    elif fault == "sse_late":
        assert d["label"] == "sse_error(overloaded_error)" and d["attempts"] == 1
        assert msg.startswith('API Error: {"type":"error","error":{"type":"overloaded_error"')
    elif fault == "529":
        assert d["label"] == "http_error(529, overloaded_error)"
        assert msg.startswith('API Error: 529 {"type":"error","error":{"type":"overloaded_error"')
        assert d["attempts"] == RETRIES + 1
        cc_delays(d["retry_delays"])
        # MEASURED: stream-json labels a 529 "rate_limit"
        assert [(e["error_status"], e["error"]) for e in res.api_retries] == [(529, "rate_limit")] * RETRIES
    elif fault == "stall":
        # no stream watchdog in 2.1.104 by default and API_TIMEOUT_MS covers headers only:
        # it waits until we kill it
        assert d["label"] == "timeout(body)" and res.killed and msg == ""
        assert d["attempts"] == 1 and res.stream_events[:2] == ["message_start", "content_block_start"]
    elif fault == "stall_pre":
        # MEASURED: printed without the "API Error:" prefix; retried like a connection error
        assert d["label"] == "timeout(headers)" and msg == "Request timed out"
        assert d["attempts"] == 2
        assert_backoff(d["retry_delays"], 0.5, 32.0, jitter_up=0.25, extra=1.0, slack=0.7, early=0.2)


# -- Claude Code 2.1.104 (interactive mode, on a pseudo-terminal) ---------------------------


@needs_node
@pytest.mark.parametrize("fault", ["none", "rst_pre", "rst_early"])
def test_claude_code_interactive(origin, claude_folder, fault):
    record, res = claude_code.run_detailed(probe_for(origin, fault, mode="interactive"))
    d = checked(record)
    msg = d["client_message"] or ""
    if fault == "none":
        assert d["label"] == "completed" and msg.strip() == "alpha bravo charlie delta echo"
        assert res.api_errors == [] and d["attempts"] == 1
    elif fault == "rst_pre":
        # the same printed text as print mode, and here the session JSONL has the records the
        # field report counted: one system/api_error per retry, cause {} under Node
        assert d["label"] == "reset_before_headers"
        assert msg == "API Error: Unable to connect to API (ECONNRESET)"
        assert "API Error: Unable to connect to API (ECONNRESET)" in re.sub(r"\s+", " ", res.screen) \
            or "UnabletoconnecttoAPI(ECONNRESET)" in re.sub(r"\s", "", res.screen)
        assert [(e["retryAttempt"], e["maxRetries"]) for e in res.api_errors] == \
            [(n, RETRIES) for n in range(1, RETRIES + 1)]
        assert all(e["cause"] == {} and e["level"] == "error" for e in res.api_errors)
        assert all(500 <= e["retryInMs"] <= 500 * 2 ** (e["retryAttempt"] - 1) * 1.25 for e in res.api_errors)
        assert d["attempts"] == RETRIES + 1
        # the TUI redraws between attempts: under load (CI, 2 cores) node's event loop
        # adds up to ~1 s on the wire (1.20 s seen for a 0.5-0.625 s retryInMs, which the
        # api_errors check above pins exactly)
        cc_delays(d["retry_delays"], slack=1.5)
    else:
        # the fallback is silent here too: no api_error record for a mid-stream break
        assert d["label"] == "completed" and d["attempts"] == 2 and res.api_errors == []
        assert res.origin.served == ["stream", "message"]


@needs_node
@needs(None if shutil.which("strace") else "strace is not installed (scripts/setup.sh installs it)")
def test_claude_code_interactive_reaches_only_the_origin(origin, claude_folder):
    """With the pre-written ~/.claude.json and env, Claude Code reaches no host but the mock
    (without them it runs ssh/git against github.com and fetches downloads.claude.ai).

    It may still try to resolve a name now and then: one CI run (stop 19, Claude Code
    2.1.104, interactive, a 3.3 s session under load) saw two connects to the resolver
    (10.255.255.53:53), against hundreds of runs without. The test runs in a namespace with
    no route out (test_client_real's fixture), so those connects fail with ENETUNREACH before
    any query is sent, and which name it was cannot be seen. What is asserted: nothing but
    loopback is connected to except the resolver, every attempt at the resolver failed
    (nothing left the namespace), and no ssh/git/curl/wget ran."""
    out = tempfile.mkdtemp(prefix="rl-strace-")
    try:
        trace = os.path.join(out, "trace")
        wrap = ["strace", "-f", "-qq", "-s", "200", "-e", "trace=connect,sendto,sendmmsg,execve",
                "-o", trace]
        record, res = claude_code.run_detailed(
            probe_for(origin, "none", mode="interactive", wrap=tuple(wrap)))
        assert checked(record)["label"] == "completed"
        with open(trace, encoding="utf-8", errors="replace") as f:
            text = f.read()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    loopback = {"127.0.0.1", "::1"}
    inet = re.findall(r'inet_(?:addr|pton)\((?:AF_INET6?, )?"([^"]+)"', text)
    # the trace lines that left loopback (a DNS query's name would be in its sendto)
    stray = [ln[:400] for ln in text.splitlines()
             if "htons(53)" in ln or any(a in ln for a in set(inet) - loopback)]
    assert inet and loopback & set(inet), inet  # it did talk to the mock
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if not ("htons(53)" in ln or any(a in ln for a in set(inet) - loopback)):
            continue
        assert "htons(53)" in ln, f"a connection to something but the mock and the resolver: {ln}"
        if "<unfinished ...>" in ln:  # strace -f: the result is on the same pid's "resumed" line
            pid = ln.split()[0]
            ln = next((x for x in lines[i + 1:] if x.startswith(pid + " ") and "resumed>" in x), ln)
        assert re.search(r"= -1 E", ln), f"a DNS query left the test's namespace: {ln}"
    print(f"{len(stray)} failed attempt(s) at the resolver", stray[:4])
    assert "github" not in text and "claude.ai" not in text
    execs = re.findall(r'execve\("([^"]+)"', text)
    assert not [e for e in execs if os.path.basename(e) in ("ssh", "git", "curl", "wget")], execs


# -- a stream that ends cleanly without message_stop ------------------------------------------
# The mock origin has no action that ends an HTTP/1.1 stream cleanly early (its `fin` cuts
# the chunked body), so this tiny server does it: 200, chunked SSE, message_start ..
# content_block_stop, then the chunked terminator and close.

_TRUNC_EVENTS = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_trunc", "type": "message", "role": "assistant", "model": "m", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": " alpha"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
]


class TruncatingServer:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.posts: list[bool] = []  # "stream" of each POST
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            while True:
                line = f.readline()
                if not line:
                    return
                headers = {}
                while (h := f.readline()) not in (b"\r\n", b"\n", b""):
                    k, v = h.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = f.read(int(headers.get("content-length") or 0))
                if not line.startswith(b"POST"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    continue
                stream = bool(json.loads(body or b"{}").get("stream"))
                self.posts.append(stream)
                if not stream:
                    conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
                    continue
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"request-id: req_trunc\r\ntransfer-encoding: chunked\r\n"
                             b"connection: close\r\n\r\n")
                for name, data in _TRUNC_EVENTS:
                    ev = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    conn.sendall(b"%x\r\n" % len(ev) + ev + b"\r\n")
                conn.sendall(b"0\r\n\r\n")
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def truncating():
    server = TruncatingServer()
    yield server
    server.close()


@pytest.mark.parametrize("client", ["python-sdk", "node-sdk", "claude-code"])
def test_stream_without_message_stop_is_silent(truncating, client, request):
    """Facts: the SDKs end such a stream with no error (ok, stop_reason None). MEASURED:
    Claude Code 2.1.104 also shows the partial text as a normal answer, no retry."""
    if client != "python-sdk":
        skip_if(NODE_SKIP)
        request.getfixturevalue("claude_folder" if client == "claude-code" else "node_folder")
    before = len(truncating.posts)
    probe = Probe(base_url=truncating.url, size=2000, max_retries=2, timeout=10.0)
    run = {"python-sdk": python_sdk.run, "node-sdk": node_sdk.run, "claude-code": claude_code.run}[client]
    d = checked(run(probe))
    assert d["label"] == "truncated_clean" and d["status"] == 200 and d["attempts"] == 1
    assert truncating.posts[before:] == [True]  # no retry, no fallback
    if client == "claude-code":
        assert d["client_message"] == " alpha" and d["events_received"] == 4
    else:
        assert d["client_message"] is None and d["events_received"] == 4


@pytest.mark.parametrize("client", ["python-sdk", "node-sdk", "claude-code"])
def test_connection_refused(client, request):
    """No listener: connect_error(ECONNREFUSED), retried like any connection error. Without
    an origin log the attempts are the client's own count."""
    if client != "python-sdk":
        skip_if(NODE_SKIP)
        request.getfixturevalue("claude_folder" if client == "claude-code" else "node_folder")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    probe = Probe(base_url=f"http://127.0.0.1:{port}", max_retries=1, timeout=5.0)
    run = {"python-sdk": python_sdk.run, "node-sdk": node_sdk.run, "claude-code": claude_code.run}[client]
    d = checked(run(probe))
    assert d["label"] == "connect_error(111)" and d["status"] is None and d["attempts"] == 2
    assert len(d["retry_delays"]) == 1
    msg = d["client_message"]
    assert {"python-sdk": msg == "APIConnectionError: Connection error.",
            "node-sdk": "[ECONNREFUSED]" in msg,
            "claude-code": msg == "API Error: Unable to connect to API (ECONNREFUSED)"}[client], msg


# Claude Code's own body (system prompt, tools) is ~100 KB: below that it cannot send less
SIZES = {"raw": (1000, 2_000_000), "python-sdk": (1000, 2_000_000), "node-sdk": (1000, 2_000_000),
         "claude-code": (300_000, 2_000_000)}


@pytest.mark.parametrize("client", sorted(SIZES))
def test_size_is_the_body_the_origin_receives(origin, client, request):
    """probe.size means the request body's bytes on the wire, for every client: the origin's
    request log measures within 1% of it, and the record's request_bytes is what it measured."""
    if client in ("node-sdk", "claude-code"):
        skip_if(NODE_SKIP)
        request.getfixturevalue("claude_folder" if client == "claude-code" else "node_folder")
    from harness.clients.registry import runner

    for size in SIZES[client]:
        before = len(origin.records)
        d = checked(runner(client)(Probe(base_url=origin.url, size=size, timeout=30.0,
                                         origin_records=origin.records)))
        posts = [r for r in list(origin.records)[before:] if r["path"].startswith("/v1/messages")]
        main = max(posts, key=lambda r: r["body_bytes"])  # Claude Code adds a small side request
        assert abs(main["body_bytes"] - size) <= 0.01 * size, (client, size, main["body_bytes"])
        assert d["request_bytes"] == main["body_bytes"] and d["probe"]["size"] == size
