"""claude-code: one probe with the real Claude Code CLI (2.1.104, cli.js on Node), mapped to
the outcome taxonomy.

Claude Code is installed in the project-local npm folder clients/claude-code/ (exact pin +
committed lockfile; `npm ci --prefix clients/claude-code` on first use). It only ever talks
to probe.base_url (the mock): every run gets a throwaway HOME and project folder (removed
after) and a minimal environment, never the caller's:

    ANTHROPIC_BASE_URL=probe.base_url   ANTHROPIC_API_KEY=<lab key>
    CLAUDE_CODE_MAX_RETRIES=probe.max_retries   API_TIMEOUT_MS=probe.timeout*1000 (headers only)
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1
    DISABLE_ERROR_REPORTING=1 CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL=1
    ANTHROPIC_CUSTOM_HEADERS="x-resetlab-probe-id: ...\\nx-resetlab-plan: ...\\nx-resetlab-stream: ..."
    NODE_EXTRA_CA_CERTS=probe.ca_path (TLS)        + probe.env (e.g.
    CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1, CLAUDE_ENABLE_STREAM_WATCHDOG=1)
probe.wrap: a command prefix (e.g. ["strace", "-f", "-e", "trace=connect", "-o", F]).
probe.runtime: "node" (default) or "bun": cli.js on the Bun binary of the optional
npm package @oven/bun-linux-x64 (BUN), as in Claude Code's native build, whose api_error
records keep cause {"code": "ECONNRESET", "path": URL, "errno": 0} (Node's: cause {}).

$HOME/.claude.json is written first (WELCOME below): onboarding done, the project folder
trusted, the lab key approved (customApiKeyResponses: its last 20 characters) and the
official plugin marketplace marked as already attempted/policy-blocked. Without that last
part interactive mode runs `ssh -T git@github.com`, `git clone https://github.com/...` and
fetches downloads.claude.ai at start (seen with strace); with it, and the env var, the only
sockets Claude Code opens go to the mock (tests/test_client_real.py checks this with strace).

Modes (probe.mode):
    print (default)  `cli.js -p --output-format stream-json --verbose --include-partial-messages
                     --debug-file F`, the prompt on stdin. stdout has system/api_retry events
                     (attempt, retry_delay_ms, error_status, error), stream_event lines (the
                     client's own view of SSE events), the result line (is_error, result).
    interactive      the TUI on a pseudo-terminal (os.openpty): wait for the input box, type the
                     prompt, Enter; then read the session JSONL
                     ($HOME/.claude/projects/<project>/<session>.jsonl): system/api_error
                     records (retryAttempt, maxRetries, retryInMs, cause, error) and the final
                     assistant record (isApiErrorMessage + its text, or a normal answer).
                     `Tui` is that terminal as an object kept across turns (`turn_in`: one
                     more turn of the same process, e.g. the workload's persistent mode).
Both modes write the debug log (--debug-file), whose "Connection error details: code=X,
message=Y" and "Error streaming, falling back to non-streaming mode: M" lines are Claude
Code's own account of a connection failure.

What Claude Code printed -> Observation:
    an answer                                       complete, message_stop (status 200)
    "API Error: Unable to connect to API (CODE)"    before headers: ECONNRESET/EPIPE -> reset,
                                                    ECONNREFUSED/... -> connect_error(errno)
    "API Error: terminated"                         after headers (status 200): the debug
                                                    log's code=ECONNRESET -> reset, else eof
    "API Error: ECONNRESET: The socket connection was closed unexpectedly ..."
                                                    the same under Bun -> reset (status 200)
    any other error text ("Prompt is too long")     the debug log's last connection code:
                                                    ECONNRESET -> reset, else eof
    "API Error: NNN {json}"                         status NNN, error.type -> http_error
    "Request too large (max 20MB). ..."             its text for a 413 -> http_error(413, request_too_large)
    "API Error: {json error}"                       an `event: error`: sse_error(type)
    "Request timed out" / "API Error: Request timed out"    timeout(headers)
    nothing before the deadline (probe.deadline) -> we kill it: timeout(body) if a
                                                    stream had started, else timeout(headers)
The outcome is what happened to the probe as Claude Code experienced it: an early
mid-stream break it recovers from by its silent non-streaming fallback is `completed` with
attempts = 2 (the origin log shows the streamed request, then one without "stream").

`run_detailed(probe)` returns (ProbeRecord, ClaudeCodeRun) with everything parsed
(api_retry events, api_error records, debug lines, the origin's view); `run` the record.
"""

from __future__ import annotations

from .env import (
    BASE_BODY,
    BUN,
    BUN_PACKAGE,
    CLI,
    CLIENT,
    FOLDER,
    MODES,
    PACKAGE,
    PROMPT,
    QUIET_ENV,
    RUNTIMES,
    default_deadline,
    make_home,
    prompt_text,
    runtime_binary,
    version,
    welcome,
)
from .observe import ClaudeCodeRun, is_main, observe
from .run import finish, run, run_detailed, run_in_home, turn_in
from .tui import Tui, _turn_over, session_files, session_marks

__all__ = ["BASE_BODY", "BUN", "BUN_PACKAGE", "CLI", "CLIENT", "FOLDER", "MODES", "PACKAGE", "PROMPT", "QUIET_ENV",
           "RUNTIMES", "ClaudeCodeRun", "Tui", "_turn_over", "default_deadline", "finish", "is_main", "make_home",
           "observe", "prompt_text", "run", "run_detailed", "run_in_home", "runtime_binary", "session_files",
           "session_marks", "turn_in", "version", "welcome"]
