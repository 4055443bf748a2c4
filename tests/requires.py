"""What scripts/setup.sh installs -- node, npm and the project-local npm folders
(clients/node, clients/claude-code), nginx, haproxy, strace -- some tests need. Where a
piece is missing they skip with the reason, except under .ci/run, which runs setup.sh and
sets RESETLAB_REQUIRE_INSTALLS=1: there a missing install is a failure, never a silent skip."""

from __future__ import annotations

import os
import shutil

import pytest

from harness.clients.common import NodeUnavailable, ensure_npm, node_binary

REQUIRED = os.environ.get("RESETLAB_REQUIRE_INSTALLS") == "1"


def skip_reason(folder: str, who: str) -> str | None:
    """Why tests of `who` (installed in `folder`) cannot run here, or None."""
    if node_binary() is None:
        return f"node is not installed: {who} need it"
    if shutil.which("npm") is None and not os.path.isdir(os.path.join(folder, "node_modules")):
        return f"npm is not installed and {os.path.relpath(folder)}/node_modules is missing"
    return None


def needs(reason: str | None):
    """A skipif mark for `reason` (None: nothing missing), inactive when installs are required."""
    return pytest.mark.skipif(reason is not None and not REQUIRED, reason=reason or "")


def skip_if(reason: str | None) -> None:
    """pytest.skip(reason) inside a test (None: nothing missing), unless installs are required."""
    if reason is not None and not REQUIRED:
        pytest.skip(reason)


def installed(folder: str) -> str:
    """`npm ci` the folder if needed (for a fixture); skip, or fail when required, if it cannot."""
    try:
        ensure_npm(folder)
    except NodeUnavailable as exc:
        if REQUIRED:
            raise
        pytest.skip(str(exc))
    return folder
