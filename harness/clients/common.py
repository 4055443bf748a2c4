"""What the real-client runners share: the lab key, lab headers, the request body, npm folders."""

from __future__ import annotations

import errno as errno_mod
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

from netem.nsexec import scrubbed_environ

from .probe import Probe
from .retries import PROBE_ID_HEADER

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENTS_DIR = os.path.join(REPO, "clients")
LAB_KEY = "lab-key"  # what every real client sends when probe.api_key_env is unset


def api_key(probe: Probe) -> str:
    return (os.environ.get(probe.api_key_env) if probe.api_key_env else None) or LAB_KEY


def mock_headers(probe: Probe) -> dict[str, str]:
    """The mock origin's per-request knobs (x-resetlab-stream / -plan), then the probe's own
    extra headers: written here once for every client."""
    headers = {}
    if probe.lab_stream is not None:
        headers["x-resetlab-stream"] = json.dumps(probe.lab_stream, separators=(",", ":"))
    if probe.lab_plan is not None:
        headers["x-resetlab-plan"] = json.dumps(probe.lab_plan, separators=(",", ":"))
    headers.update({str(k).lower(): str(v) for k, v in probe.headers.items()})
    return headers


def lab_headers(probe: Probe, probe_id: str) -> dict[str, str]:
    """Request headers every real-client runner adds: the probe id, and mock_headers."""
    return {PROBE_ID_HEADER: probe_id, **mock_headers(probe)}


def request_body(probe: Probe, *, stream: bool | None = None) -> dict[str, Any]:
    """The synthetic request body of about probe.size bytes, decoded."""
    from .context import build_body

    stream = probe.stream if stream is None else stream
    raw = build_body(probe.size, stream=stream, model=probe.model, max_tokens=probe.max_tokens,
                     seed=probe.seed)
    return json.loads(raw)


def errno_of(name: str | None) -> int | None:
    """errno number for a code like "ECONNREFUSED" (None if unknown)."""
    if not name:
        return None
    return getattr(errno_mod, name, None)


def http_version(v: str | None) -> str | None:
    v = (v or "").upper()
    return {"HTTP/1.1": "http/1.1", "HTTP/1.0": "http/1.1", "HTTP/2": "h2"}.get(v)


# -- project-local npm folders ---------------------------------------------------------------


class NodeUnavailable(RuntimeError):
    """node / npm are missing, or a project-local npm folder could not be installed."""


def node_binary() -> str | None:
    return shutil.which("node")


def npm_folder(name: str) -> str:
    return os.path.join(CLIENTS_DIR, name)


def platform_ok(folder: str, name: str) -> bool:
    """The lockfile's os/cpu of an optional package match this machine (npm skips it else)."""
    try:
        with open(os.path.join(folder, "package-lock.json"), encoding="utf-8") as f:
            entry = json.load(f).get("packages", {}).get(f"node_modules/{name}", {})
    except (OSError, ValueError):
        return False
    cpu = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return sys.platform in entry.get("os", [sys.platform]) and cpu in entry.get("cpu", [cpu])


def _pinned(folder: str) -> dict[str, str]:
    """dependencies, plus the optionalDependencies npm installs on this machine."""
    with open(os.path.join(folder, "package.json"), encoding="utf-8") as f:
        pkg = json.load(f)
    optional = {k: v for k, v in pkg.get("optionalDependencies", {}).items() if platform_ok(folder, k)}
    return {**pkg.get("dependencies", {}), **optional}


def npm_installed(folder: str) -> bool:
    """Every pinned dependency is in node_modules at exactly the pinned version."""
    for name, version in _pinned(folder).items():
        path = os.path.join(folder, "node_modules", name, "package.json")
        try:
            with open(path, encoding="utf-8") as f:
                if json.load(f).get("version") != version:
                    return False
        except (OSError, ValueError):
            return False
    return True


def ensure_npm(folder: str, timeout: float = 600.0) -> None:
    """`npm ci --prefix folder` from its lockfile if node_modules is missing or stale.

    Serialized by a lock on the folder's package-lock.json (parallel test workers share the
    folder). Raises
    NodeUnavailable with a reason when node/npm are absent or the install fails.
    """
    if node_binary() is None:
        raise NodeUnavailable("node is not installed (needed for the Node SDK and Claude Code runners)")
    if npm_installed(folder):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise NodeUnavailable(f"npm is not installed and {folder}/node_modules is missing")
    # The lock is the folder's own committed package-lock.json (npm ci reads it, never
    # writes it): no lock file is left anywhere.
    with open(os.path.join(folder, "package-lock.json"), "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if npm_installed(folder):
            return
        proc = subprocess.run([npm, "ci", "--prefix", folder, "--no-audit", "--no-fund"],
                              capture_output=True, text=True, timeout=timeout, env=scrubbed_environ())
        if proc.returncode != 0 or not npm_installed(folder):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise NodeUnavailable(f"npm ci --prefix {folder} failed ({proc.returncode}): "
                                  + " | ".join(tail))


def make_record(outcome, client: str, *, status: int | None, **kw: Any):
    """ProbeRecord.from_outcome (which keeps an http_error outcome's own status over `status`)."""
    from harness.outcome import ProbeRecord

    return ProbeRecord.from_outcome(outcome, client, status=status, **kw)
