"""Finding session files, redacting them to labels, and streaming their lines.

Files: every argument is a file (read as given) or a folder, walked recursively for
``*.jsonl`` (sorted, symlinked folders not followed). The walk is lazy: files are opened one at
a time and read line by line with ``readline(limit)`` on a binary buffered file, never
``read()``: memory is bounded by the longest line kept, and a line longer than
``max_line`` bytes is not kept at all - only its first and last ``FRAGMENT`` bytes (it is
counted as "oversize" and classified from those fragments).

Redaction: a file is known only by its project label and a session label.
    project  the folder right after the last ``projects`` component of the path (Claude
             Code's ``~/.claude/projects/<project>/<session>.jsonl`` and its
             ``<session>/subagents/*.jsonl``); otherwise the first folder under the folder
             argument; otherwise the file's parent folder. Labelled ``project-A``,
             ``project-B``, ... in order of first appearance (``project-AA`` after Z).
    session  ``s-`` + the first 8 hex digits of SHA-256 of the file name (without .jsonl).
No path, folder or file name is ever returned by this module's public objects.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

DEFAULT_MAX_LINE = 64 * 1024 * 1024
FRAGMENT = 64 * 1024
CHUNK = 64 * 1024
BUFFER = 256 * 1024


def open_binary(path: str):
    """The one place files are opened (tests wrap it to prove nothing calls .read())."""
    return open(path, "rb", buffering=BUFFER)


@dataclass(slots=True)
class Line:
    """One line: its bytes, or (oversize) only its head and tail."""

    data: bytes | None
    nbytes: int
    head: bytes = b""
    tail: bytes = b""

    @property
    def oversize(self) -> bool:
        return self.data is None


def iter_lines(f, max_line: int = DEFAULT_MAX_LINE, fragment: int = FRAGMENT) -> Iterator[Line]:
    """Stream a binary file object line by line (``readline`` only)."""
    fragment = min(fragment, max_line)
    while True:
        line = f.readline(max_line + 1)
        if not line:
            return
        if len(line) <= max_line or line.endswith(b"\n"):
            yield Line(line, len(line))
            continue
        n, head, tail = len(line), line[:fragment], line[-fragment:]
        del line
        while True:
            chunk = f.readline(CHUNK)
            if not chunk:
                break
            n += len(chunk)
            tail = (tail + chunk)[-fragment:]
            if chunk.endswith(b"\n"):
                break
        yield Line(None, n, head, tail)


def _label(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (bijective base 26)."""
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(ord("A") + r) + s
    return s


def session_label(path: str) -> str:
    stem = os.path.basename(path)
    if stem.endswith(".jsonl"):
        stem = stem[: -len(".jsonl")]
    return "s-" + hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class SessionFile:
    path: str  # internal only: never rendered
    project: str  # project-A ...
    session: str  # s-<8 hex>


@dataclass
class Redactor:
    """Project folders -> project-A, project-B, ... in order of first appearance."""

    labels: dict[str, str] = field(default_factory=dict)

    def project(self, key: str) -> str:
        if key not in self.labels:
            self.labels[key] = "project-" + _label(len(self.labels))
        return self.labels[key]


def project_key(path: str, root: str | None) -> str:
    parts = os.path.abspath(path).split(os.sep)
    for i in range(len(parts) - 3, -1, -1):  # "projects", <project>, ..., <file>
        if parts[i] == "projects":
            return os.sep.join(parts[: i + 2])
    if root is not None:
        rel = os.path.relpath(path, root).split(os.sep)
        if len(rel) >= 2:
            return os.path.join(os.path.abspath(root), rel[0])
    return os.path.dirname(os.path.abspath(path))


def _walk(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name.endswith(".jsonl") and os.path.isfile(path):  # not a FIFO, socket, ...
                yield path


class MissingPath(Exception):
    """An argument is neither a file nor a folder. Carries only its position (1-based)."""

    def __init__(self, position: int):
        super().__init__(f"PATH #{position}: not a readable file or folder (the path is not printed); "
                         "allowed a session JSONL file or a folder holding them")
        self.position = position


def check_paths(paths: Iterable[str]) -> list[str]:
    out = list(paths)
    for i, p in enumerate(out, 1):
        if not (os.path.isfile(p) or os.path.isdir(p)):
            raise MissingPath(i)
    return out


def discover(paths: Iterable[str], redactor: Redactor | None = None) -> Iterator[SessionFile]:
    """Session files under the arguments, lazily, each file once, labelled."""
    redactor = redactor or Redactor()
    seen: set[str] = set()
    for p in paths:
        root = p if os.path.isdir(p) else None
        files = _walk(p) if root is not None else iter([p])
        for f in files:
            real = os.path.realpath(f)
            if real in seen:
                continue
            seen.add(real)
            yield SessionFile(f, redactor.project(project_key(f, root)), session_label(f))
