"""Shared pieces of the input fuzz tests (tests/test_fuzz_*.py): how many examples, bad
values, mutations of a valid document, and the one-line error check.

Examples per entry point: FUZZ_QUICK in the normal suite (`.ci/run`), FUZZ_SLOW in the
`slow_fuzz` tests, which run only when asked for -- `RESETLAB_SLOW=1 pytest -m slow
tests/test_fuzz_*.py` -- since the whole suite (slow tests included) is what CI runs.
RESETLAB_FUZZ_EXAMPLES overrides both counts.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ_QUICK = int(os.environ.get("RESETLAB_FUZZ_EXAMPLES", 25))
FUZZ_SLOW = int(os.environ.get("RESETLAB_FUZZ_EXAMPLES", 300))
slow_fuzz = pytest.mark.skipif(not os.environ.get("RESETLAB_SLOW"),
                               reason="hundreds of examples per entry point: RESETLAB_SLOW=1 runs them")


def fuzz_settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


# any JSON/TOML-ish value a hand-written file might hold where it should not
junk = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(min_value=-5, max_value=5), max_size=2),
)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indices) into a JSON document, containers included."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, prefix + (i,))
    return out


def get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def mutated(draw, docs: list[dict]) -> tuple[dict, tuple, str]:
    """(a copy of one of docs with one change, the path changed, what was done): a value
    replaced by junk, a key deleted, or an unknown key added."""
    import copy

    doc = copy.deepcopy(draw(st.sampled_from(docs)))
    path = draw(st.sampled_from(paths(doc)))
    parent, last = get(doc, path[:-1]), path[-1]
    op = draw(st.sampled_from(("replace", "replace", "delete", "add")))
    if op == "delete" and isinstance(parent, dict):
        del parent[last]
    elif op == "add" and isinstance(get(doc, path), dict):
        key = draw(st.text(min_size=1, max_size=6).filter(lambda k: k not in get(doc, path)))
        get(doc, path)[key] = draw(junk)
        path = path + (key,)
    else:
        op = "replace"
        parent[last] = draw(junk)
    return doc, path, op


def named(path: tuple) -> list[str]:
    """The names an error about `path` may use: its keys (a cross-field check names the
    field the change collided with, which is also on the path's parent)."""
    return [str(p) for p in path if isinstance(p, str)]


def check_one_line(message: str, path: tuple = ()) -> None:
    assert "\n" not in message.strip(), message
    assert "allowed" in message, message
    if path and named(path):
        assert any(n in message for n in named(path)) or path[0] in message, (path, message)


def not_a_number() -> st.SearchStrategy[str]:
    def bad(s: str) -> bool:
        try:
            float(s)
        except ValueError:
            return True
        return False
    return st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8).filter(bad)


def bad_count(lo: int, hi: int | None = None) -> st.SearchStrategy[str]:
    """An argument that is not an integer in [lo, hi]."""
    outside = st.integers(max_value=lo - 1)
    if hi is not None:
        outside = outside | st.integers(min_value=hi + 1, max_value=10**30)
    return st.one_of(outside.map(str), not_a_number(), st.sampled_from(["1.5", "nan", "inf", "1e3"]))


def bad_number(lo: float, hi: float) -> st.SearchStrategy[str]:
    """An argument that is not a finite number in [lo, hi]."""
    outside = st.floats(max_value=lo, exclude_max=True, allow_nan=False)
    if math.isfinite(hi):
        outside |= st.floats(min_value=hi, exclude_min=True, allow_nan=False)
    return st.one_of(outside.filter(math.isfinite).map(repr), not_a_number(),
                     st.sampled_from(["nan", "inf", "-inf", "NaN"]))


def bad_choice(choices: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=10) \
        .filter(lambda s: s not in choices and "+" not in s)
