"""The client fidelity matrix: what each real client says vs what happened on the wire.

    python -m harness fidelity [--quick] [--clients a,b] [--events x,y] [--jobs N] [--out DIR]
                               [--from JSON] [--readme README.md]
    pytest -m fidelity            # every cell against tests/fidelity_expected.json (expect.py)

events.py (the wire events), clients.py (the clients and their settings), cell.py (one cell
under a packet tap), matrix.py (all cells, concurrently, and the report).
"""
