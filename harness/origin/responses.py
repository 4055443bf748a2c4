"""Response shapes shared by the API routes and fault actions: error bodies and headers.

Error body (the API's): {"type": "error", "error": {"type": T, "message": M}, "request_id": R}.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .injector import Injector

STATUS_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 504: "timeout_error", 529: "overloaded_error",
}
MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "x-api-key header is required",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of requests has exceeded your rate limit.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}
# The SDKs retry 408/409/429/>=500 unless x-should-retry says otherwise; the API sets it.
RETRYABLE = {408, 409, 429}


def error_type_for(status: int) -> str:
    return STATUS_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(err_type: str, message: str | None = None, request_id: str | None = None) -> dict:
    body: dict = {"type": "error",
                  "error": {"type": err_type, "message": message or MESSAGES.get(err_type, err_type)}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def ratelimit_headers() -> list[tuple[str, str]]:
    """Plausible anthropic-ratelimit-* headers (never exhausted: we are not a limiter)."""
    reset = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [("anthropic-ratelimit-requests-limit", "4000"),
           ("anthropic-ratelimit-requests-remaining", "3999"),
           ("anthropic-ratelimit-requests-reset", reset)]
    for kind in ("tokens", "input-tokens", "output-tokens"):
        out += [(f"anthropic-ratelimit-{kind}-limit", "2000000"),
                (f"anthropic-ratelimit-{kind}-remaining", "1999000"),
                (f"anthropic-ratelimit-{kind}-reset", reset)]
    return out


def common_headers(request_id: str) -> list[tuple[str, str]]:
    return [("request-id", request_id), ("server", "resetlab-origin"), *ratelimit_headers()]


def merge_headers(base: list[tuple[str, str]], extra: dict[str, str] | None) -> list[tuple[str, str]]:
    """`extra` replaces same-named headers in `base` (names are lower-case)."""
    if not extra:
        return base
    return [(k, v) for k, v in base if k not in extra] + list(extra.items())


async def send_error(inj: Injector, status: int, err_type: str | None = None,
                     message: str | None = None, headers: dict[str, str] | None = None) -> None:
    """Send a complete error response through the injector (so faults still apply)."""
    ex = inj.ex
    err_type = err_type or error_type_for(status)
    body = json.dumps(error_body(err_type, message, ex.request_id)).encode()
    retry = status in RETRYABLE or status >= 500
    base = [*common_headers(ex.request_id), ("content-type", "application/json"),
            ("content-length", str(len(body))), ("x-should-retry", "true" if retry else "false")]
    if status == 429:
        base.append(("retry-after", "1"))
    inj.error_type = err_type
    await inj.send_headers(status, merge_headers(base, headers))
    if ex.method != "HEAD":
        await inj.send(body)
    await inj.end()
