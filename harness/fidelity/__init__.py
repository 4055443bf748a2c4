"""The client fidelity matrix: what each real client says vs what happened on the wire.

    python -m harness fidelity [--quick] [--clients a,b] [--events x,y] [--jobs N] [--out DIR]
    pytest -m fidelity            # every cell as a test of its observed mapping (expected.json)

events.py (the wire events), clients.py (the clients and their settings), cell.py (one cell
under a packet tap), matrix.py (all cells, concurrently, and the report).
"""
