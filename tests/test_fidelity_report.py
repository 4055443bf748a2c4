"""harness.fidelity.expect and the matrix report on made-up cells (no namespaces needed)."""

from harness.fidelity.cell import Cell
from harness.fidelity.expect import build, problems
from harness.fidelity.matrix import markdown


def cell(client="node-sdk", event="rst_mid_block", client_label="fin_mid_stream",
         wire_label="reset_mid_stream", label=None, **kw) -> dict:
    c = Cell(client, event, client_label=client_label, wire_label=wire_label,
             label=label or wire_label or client_label, attempts=1, wire_attempts=1, **kw)
    return c.to_dict()


def test_expectations_are_the_union_of_the_runs():
    runs = [{"cells": [cell(client_label="fin_mid_stream")]}, {"cells": [cell(client_label="reset_mid_stream")]}]
    exp = build(runs)
    assert exp["node-sdk/rst_mid_block"]["client_label"] == ["fin_mid_stream", "reset_mid_stream"]
    assert problems(cell(client_label="reset_mid_stream"), exp) == []
    changed = problems(cell(client_label="sse_error(x)"), exp)
    assert changed and "client_label" in changed[0]
    assert "no expectation" in problems(cell(event="other"), exp)[0]


def test_rst_fin_rules_hold_whatever_the_expectations_say():
    # a record that still says FIN where the wire saw an RST fails even if "expected"
    bad = cell(label="fin_mid_stream")
    exp = build([{"cells": [bad]}])
    assert any("the record says" in p for p in problems(bad, exp))
    # a lab client whose library can tell may not swap them (python-sdk), one that cannot
    # (undici) is allowed to, the wire deciding the record
    py = cell(client="python-sdk")
    assert any("the client says" in p for p in problems(py, build([{"cells": [py]}])))
    node = cell()
    assert problems(node, build([{"cells": [node]}])) == []
    bun = cell(client="claude-code-bun", event="fin_before_headers", client_label="reset_before_headers",
               wire_label="fin_before_headers")
    assert problems(bun, build([{"cells": [bun]}])) == []  # Bun says ECONNRESET for a FIN too


def test_markdown_marks_the_cells_whose_label_differs_from_the_wire():
    result = {"clients": ["node-sdk", "raw"], "events": [{"name": "rst_mid_block", "what": "RST"}],
              "cells": [cell(), cell(client="raw", client_label="reset_mid_stream")],
              "seconds": 1.0, "jobs": 1, "load_average": [0.5, 0, 0], "generated": "now"}
    md = markdown(result)
    assert "`fin_mid_stream` **≠ wire `reset_mid_stream`**" in md
    assert "| rst_mid_block: RST | `fin_mid_stream` **≠ wire `reset_mid_stream`** | `reset_mid_stream` |" in md
    assert "Labels that differ from the wire: 1 of 2 cells" in md


def test_curl_exit_codes_map_to_the_outcome_kinds():
    """curl's own words, as measured in the fidelity matrix (curl 7.88)."""
    from harness.clients.curl import observation
    from harness.outcome import classify

    sse = b'event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\n'
    cases = [
        ((0, "", 200, sse), "completed"),
        ((0, "", 200, sse.split(b"event: message_stop")[0]), "truncated_clean"),
        ((0, "", 529, b'{"type":"error","error":{"type":"overloaded_error"}}'), "http_error(529, overloaded_error)"),
        ((56, "Recv failure: Connection reset by peer", 200, b""), "reset_mid_stream"),
        ((55, "Send failure: Broken pipe", 0, b""), "reset_before_headers"),
        ((56, "Recv failure: Connection reset by peer", 100, b""), "reset_before_headers"),  # 100 Continue
        ((56, "Connection died, tried 5 times before giving up", 0, b"", True), "h2_rst_stream(None)"),
        ((52, "Empty reply from server", 0, b""), "fin_before_headers"),
        ((18, "transfer closed with outstanding read data remaining", 200, b""), "fin_mid_stream"),
        ((92, "HTTP/2 stream 1 was not closed cleanly: CANCEL (err 8)", 200, b""), "h2_rst_stream(8)"),
        ((18, "HTTP/2 stream 1 was not closed cleanly before end of the underlying stream", 200, b""),
         "h2_goaway(None)"),
        ((28, "Operation timed out after 3000 milliseconds with 601 bytes received", 200, b""), "timeout(body)"),
        ((7, "Failed to connect to 198.18.2.2 port 8000 after 0 ms: Connection refused", 0, b""),
         "connect_error(111)"),
    ]
    for args, label in cases:
        assert classify(observation(*args)).label == label, args
