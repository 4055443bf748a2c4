"""Claude Code's installation, HOME and environment for a probe: where cli.js is, what runs
it (Node or Bun), the pre-written ~/.claude.json, the variables, the prompt that pads the
request to probe.size, the deadline."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..common import (
    api_key,
    lab_headers,
    node_binary,
    npm_folder,
)
from ..probe import CC_MODES, CC_RUNTIMES, Probe

CLIENT = "claude-code"
FOLDER = npm_folder("claude-code")
PACKAGE = os.path.join(FOLDER, "node_modules", "@anthropic-ai", "claude-code")
CLI = os.path.join(PACKAGE, "cli.js")
MODES = CC_MODES
# probe.runtime: what runs cli.js. "bun" is the Bun binary of the optional npm
# package @oven/bun-linux-x64 (pinned in clients/claude-code/package.json), as in Claude
# Code's native build: its api_error records keep cause.code (Node writes cause: {}).
RUNTIMES = CC_RUNTIMES
BUN_PACKAGE = "@oven/bun-linux-x64"
BUN = os.path.join(FOLDER, "node_modules", *BUN_PACKAGE.split("/"), "bin", "bun")
# Claude Code's own request body (system prompt, tools and PROMPT) in print mode: measured
# 100244 bytes at the origin (2.1.104); a probe larger than that gets the difference as
# prompt text, so the origin receives probe.size bytes (within 1%: tests/test_client_real.py).
# A probe below it gets this much: the record's request_bytes says so beside probe.size.
BASE_BODY = 100_244
PROMPT = "Reply with one word."
MAIN_BETA = "claude-code-20250219"  # in the anthropic-beta of the conversation requests only
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
}
RESET_CODES = ("ECONNRESET", "EPIPE")
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-B]|\x1b[=>78]")


def welcome(project: str, key: str) -> dict[str, Any]:
    """$HOME/.claude.json for a fresh HOME: no onboarding, no trust or API-key prompt, no
    marketplace install (which would reach github.com and downloads.claude.ai)."""
    return {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": "2.1.104",
        "theme": "dark",
        "customApiKeyResponses": {"approved": [key[-20:]], "rejected": []},
        "officialMarketplaceAutoInstallAttempted": True,
        "officialMarketplaceAutoInstalled": False,
        "officialMarketplaceAutoInstallFailReason": "policy_blocked",
        "projects": {project: {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True,
                               "allowedTools": []}},
    }


def version() -> str | None:
    try:
        with open(os.path.join(PACKAGE, "package.json"), encoding="utf-8") as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def _env(probe: Probe, home: str, probe_id: str, term: str) -> dict[str, str]:
    node_dir = os.path.dirname(node_binary() or "/usr/bin/node")
    headers = lab_headers(probe, probe_id)
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([node_dir, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": home, "TERM": term, "LANG": "C.UTF-8", "USER": "resetlab",
        "ANTHROPIC_BASE_URL": probe.base_url,
        "ANTHROPIC_API_KEY": api_key(probe),
        "CLAUDE_CODE_MAX_RETRIES": str(probe.max_retries),
        "API_TIMEOUT_MS": str(int(probe.timeout * 1000)),
        "ANTHROPIC_CUSTOM_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        **QUIET_ENV,
    }
    if probe.ca_path:
        env["NODE_EXTRA_CA_CERTS"] = probe.ca_path
    for k, v in probe.env.items():
        env[str(k)] = str(v)
    return env


def default_deadline(probe: Probe) -> float:
    """Long enough for every attempt to time out and every backoff (x1.25 jitter) to pass."""
    backoff = sum(min(0.5 * 2 ** (n - 1), 32.0) * 1.25 for n in range(1, probe.max_retries + 1))
    return 20.0 + backoff + (probe.max_retries + 2) * probe.timeout


def prompt_text(probe: Probe) -> str:
    pad = probe.size - BASE_BODY - 4  # "\n\n" is 4 bytes JSON-encoded
    if pad <= 0:
        return PROMPT
    from ..context import filler

    return PROMPT + "\n\n" + filler(pad, seed=probe.seed)  # exactly pad bytes in the JSON body


def make_home(root: str, key: str) -> tuple[str, str]:
    """A throwaway HOME and project folder under `root`, with WELCOME written: (home, project)."""
    home, project = os.path.join(root, "home"), os.path.join(root, "project")
    os.makedirs(os.path.join(home, ".claude"), exist_ok=True)
    os.makedirs(project, exist_ok=True)
    project = os.path.realpath(project)
    with open(os.path.join(home, ".claude.json"), "w", encoding="utf-8") as f:
        json.dump(welcome(project, key), f)
    return home, project


def runtime_binary(probe: Probe) -> str | None:
    """The program that runs cli.js for this probe (probe.runtime, default node)."""
    if probe.runtime == "bun":
        return BUN if os.access(BUN, os.X_OK) else None
    return node_binary()
