"""A synthetic Messages API request body of a requested size, shaped like a real session.

``build_body(size)`` returns the JSON bytes of a ``POST /v1/messages`` body about ``size``
bytes long (exactly ``size`` whenever ``size`` is above the minimal body, ~300 bytes):

    {"model", "max_tokens", "stream": true, "system": [{"type": "text", ...}],
     "tools": [...]                       only when the history holds a tool_use block
     "messages": [user, assistant, user, assistant, ..., user]}

Turns alternate user / assistant and carry text blocks; now and then an assistant turn
ends in a ``tool_use`` block and the next user turn starts with the matching
``tool_result`` (as a coding agent's session does). The last user turn is padded so the
serialized body hits the size. Everything is deterministic in (size, seed): the same
arguments give the same bytes. Only ASCII without characters JSON must escape (other
than newlines, which are measured) is used, so bytes == characters.
"""

from __future__ import annotations

import json
import random
import threading
from collections import OrderedDict
from functools import lru_cache

DEFAULT_MODEL = "claude-sonnet-4-5"
CORPUS_BYTES = 256 * 1024
TOOLS_FROM = 8 * 1024  # smaller bodies get no tool_use blocks (the tool list alone is ~700 B)

_PROSE = (
    "the of and to in is that for it as with be on not this are by from at or an was but "
    "have which can if more will all one when there their so we what about into than them "
    "only some could would other then these two may like first any new because most also "
    "file function test request stream response header connection socket reset timeout "
    "retry client server error value return import class module config window buffer "
    "event message token context session proxy edge origin latency budget"
).split()
_CODE = (
    "def handle(request):", "    return response", "for item in items:", "if not ok: raise",
    "const x = await fetch(url);", "self.count += 1", "async with nursery:", "} else {",
    "import os, sys", "assert len(out) == 3", "# TODO: check the window", "print(value)",
    "x = y[0] + z[1]", "with open(path) as f:", "except OSError as exc:", "yield from gen()",
)
_SYSTEM = ("You are a coding assistant working in a repository on the user's machine. "
           "Use the tools to read and change files; keep answers short and precise.")
_TOOLS = [
    {"name": "Read", "description": "Read a file from the local filesystem.",
     "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}},
                      "required": ["file_path"]}},
    {"name": "Bash", "description": "Run a shell command and return its output.",
     "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                      "required": ["command"]}},
    {"name": "Grep", "description": "Search file contents with a regular expression.",
     "input_schema": {"type": "object", "properties": {"pattern": {"type": "string"},
                                                       "path": {"type": "string"}},
                      "required": ["pattern"]}},
]
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


@lru_cache(maxsize=8)
def _corpus(seed: int) -> str:
    """CORPUS_BYTES of prose and code lines, deterministic in seed (doubled for wrap-around)."""
    rng = random.Random(f"resetlab-corpus-{seed}")
    parts: list[str] = []
    n = 0
    while n < CORPUS_BYTES:
        if rng.random() < 0.2:
            piece = "\n" + "\n".join(rng.choice(_CODE) for _ in range(rng.randint(2, 8))) + "\n"
        else:
            words = [rng.choice(_PROSE) for _ in range(rng.randint(6, 24))]
            piece = " ".join(words).capitalize() + rng.choice((". ", ". ", "? ", ": ", ".\n"))
        parts.append(piece)
        n += len(piece)
    text = "".join(parts)[:CORPUS_BYTES]
    return text + text


def _text(rng: random.Random, corpus: str, length: int) -> str:
    start = rng.randrange(CORPUS_BYTES)
    return corpus[start:start + min(length, CORPUS_BYTES)]


def _pad(corpus: str, n: int) -> str:
    """Exactly n characters, none of which JSON escapes."""
    flat = corpus[:CORPUS_BYTES].replace("\n", " ")
    reps = n // len(flat) + 1
    return (flat * reps)[:n]


def _tool_id(rng: random.Random) -> str:
    return "toolu_01" + "".join(rng.choice(_ID_CHARS) for _ in range(22))


def _tool_input(rng: random.Random, name: str) -> dict:
    if name == "Read":
        return {"file_path": f"/repo/src/module_{rng.randrange(100)}.py"}
    if name == "Bash":
        return {"command": rng.choice(("pytest -q", "git status", "ls -la", "make test"))}
    return {"pattern": rng.choice(("def run", "timeout", "ECONNRESET")), "path": "/repo"}


def _pair(rng: random.Random, corpus: str, mean: int, pending_tool: str | None,
          tools_ok: bool) -> tuple[dict, dict, str | None]:
    """One user turn and one assistant turn; returns the assistant's tool_use id, if any."""
    def length() -> int:
        return rng.randint(max(1, mean // 3), max(2, mean * 5 // 3))

    user: list[dict] = []
    if pending_tool:
        user.append({"type": "tool_result", "tool_use_id": pending_tool,
                     "content": _text(rng, corpus, length())})
    if not pending_tool or rng.random() < 0.3:
        user.append({"type": "text", "text": _text(rng, corpus, length())})
    assistant: list[dict] = [{"type": "text", "text": _text(rng, corpus, length() // 2 + 1)}]
    tool = None
    if tools_ok and rng.random() < 0.35:
        tool = _tool_id(rng)
        name = rng.choice(("Read", "Bash", "Grep"))
        assistant.append({"type": "tool_use", "id": tool, "name": name,
                          "input": _tool_input(rng, name)})
    return ({"role": "user", "content": user}, {"role": "assistant", "content": assistant}, tool)


def _assemble(pairs: list[tuple[str, str, str | None]], *, model: str, max_tokens: int,
              stream: bool, pad: str) -> str:
    """The body's JSON text from the pairs' already encoded turns: the same text as encoding
    the whole body as one object (key order and separators alike), without encoding every
    turn again (a 32 MB body was encoded three times over: ~1 s of the client's CPU)."""
    last: list[dict] = []
    if pairs and pairs[-1][2]:
        last.append({"type": "tool_result", "tool_use_id": pairs[-1][2], "content": "ok"})
    last.append({"type": "text", "text": pad})
    head: dict = {"model": model, "max_tokens": max_tokens}
    if stream:
        head["stream"] = True
    head["system"] = [{"type": "text", "text": _SYSTEM}]
    if any(p[2] for p in pairs):
        head["tools"] = _TOOLS
    turns = [t for user, assistant, _ in pairs for t in (user, assistant)]
    turns.append(_dumps({"role": "user", "content": last}))
    return _dumps(head)[:-1] + ',"messages":[' + ",".join(turns) + "]}"


# Built bodies kept for reuse: an engine's ladder sends the same big body (size, seed) at
# level after level (a size x duration ladder: 32 MB at every duration, per repeat), and
# building one costs ~0.5-0.8 s of CPU per 32 MB, which probes running in threads of one
# process pay under one GIL. Only big bodies are kept, least recently used out first.
CACHE_FROM = 1_000_000
CACHE_BYTES = 256_000_000
_cache: OrderedDict[tuple, bytes] = OrderedDict()
_cache_lock = threading.Lock()


def build_body(size: int, *, stream: bool = True, model: str = DEFAULT_MODEL,
               max_tokens: int = 1024, seed: int = 0) -> bytes:
    """JSON body of ``size`` bytes (or the minimal body, if ``size`` is smaller than that)."""
    if size < CACHE_FROM:
        return _build(size, stream, model, max_tokens, seed)
    key = (size, stream, model, max_tokens, seed)
    with _cache_lock:
        body = _cache.get(key)
        if body is not None:
            _cache.move_to_end(key)
            return body
    body = _build(size, stream, model, max_tokens, seed)  # outside the lock: others may build too
    with _cache_lock:
        _cache[key] = body
        _cache.move_to_end(key)
        total = sum(map(len, _cache.values()))
        while total > CACHE_BYTES and len(_cache) > 1:
            total -= len(_cache.popitem(last=False)[1])
    return body


def _build(size: int, stream: bool, model: str, max_tokens: int, seed: int) -> bytes:
    rng = random.Random(seed * 1_000_003 + size)
    corpus = _corpus(seed)
    mean = max(150, min(24_000, size // 60))
    tools_ok = size >= TOOLS_FROM
    reserve = 400 + (len(_dumps(_TOOLS)) if tools_ok else 0)
    pairs: list[tuple[str, str, str | None]] = []  # each turn encoded once
    total, pending = 0, None
    while True:
        user, assistant, tool = _pair(rng, corpus, mean, pending, tools_ok)
        u, a = _dumps(user), _dumps(assistant)
        n = len(u) + len(a) + 2
        if total + n + reserve > size:
            break
        pairs.append((u, a, tool))
        total, pending = total + n, tool
    while True:
        base = len(_assemble(pairs, model=model, max_tokens=max_tokens, stream=stream, pad=""))
        if base <= size or not pairs:
            break
        pairs.pop()
    body = _assemble(pairs, model=model, max_tokens=max_tokens, stream=stream,
                     pad=_pad(corpus, max(0, size - base)))
    return body.encode("ascii")


WORDS = ("the of and to in is that for it as with be on not this are by from at or an was but have "
         "file function test request stream response header connection socket reset timeout retry "
         "client server error value return import class module config window buffer event message "
         "token context session proxy edge origin latency budget def handle self count await").split()


def filler(nbytes: int, seed: int = 0) -> str:
    """Prose of exactly `nbytes` once JSON-encoded (a newline counts 2), ASCII only."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = -2  # no newline before the first line
    while size < nbytes:
        parts.append(" ".join(rng.choice(WORDS) for _ in range(12)))
        size += len(parts[-1]) + 2
    text = "\n".join(parts)
    excess = size - nbytes
    while excess > 0:
        tail = len(text) - text.rfind("\n") - 1  # characters after the last newline
        if excess <= tail:
            text = text[:len(text) - excess]
            break
        text = text[:len(text) - tail - 1] + (" " if excess == tail + 1 else "")
        excess -= tail + (1 if excess == tail + 1 else 2)
    return text
