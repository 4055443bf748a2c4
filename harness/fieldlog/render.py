"""The report dict (tables.Analyzer.report) -> text tables, in the field report's order.

Only labels, counts, codes, versions and dates reach the text: the dict holds nothing else.
"""

from __future__ import annotations

BAR = 50


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def _mib(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _table(headers: list[str], rows: list[list], indent: str = "  ") -> list[str]:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(r):
        return indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return [fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells]


def _bars(items: list[tuple[str, int]], indent: str = "  ") -> list[str]:
    if not items:
        return [indent + "(none)"]
    top = max(v for _, v in items) or 1
    width = max(len(str(v)) for _, v in items)
    return [f"{indent}{k} {str(v).rjust(width)} {'#' * max(1 if v else 0, round(BAR * v / top))}"
            for k, v in items]


def render(rep: dict) -> str:
    t, ln = rep["totals"], rep["lines"]
    out: list[str] = []
    add = out.append
    add(f"resetlab fieldlog: {t['files']} session files in {t['projects']} projects, "
        f"{_mib(t['bytes'])}; {ln['total']} lines ({ln['parsed']} parsed, {ln['malformed']} "
        f"malformed, {ln['blank']} blank, {ln['oversize']} oversize)"
        + (f"; {t['unreadable_files']} unreadable files" if t["unreadable_files"] else ""))
    add(f"api_error records: {t['api_errors']} (untimed {t['api_errors_untimed']}, without "
        f"retryAttempt {t['api_errors_without_attempt']}, duplicate uuids {t['duplicate_api_errors']})")
    add(f"sessions with errors: {t['sessions_with_errors']} of {t['sessions']}; projects with "
        f"errors: {t['projects_with_errors']} of {t['projects']}; versions: {t['versions']}; "
        f"distinct sessionIds in error records: {t['session_ids_in_errors']}")

    add("")
    add("Error codes (cause.code; cause {} = unknown)")
    n = t["api_errors"]
    out += _table(["code", "count", "share"],
                  [[k, v, _pct(v / n if n else None)] for k, v in rep["by_code"].items()])
    cp = rep["cause_path"]
    add(f"  cause.path present: {cp['present']}, absent/null: {cp['absent']}; maxRetries: "
        + (", ".join(f"{k} x{v}" for k, v in rep["by_max_retries"].items()) or "-"))

    add("")
    add("By Claude Code version")
    out += _table(["version", "errors"], [[k, v] for k, v in rep["by_version"].items()])

    add("")
    add("By project")
    out += _table(["project", "sessions", "with errors", "errors"],
                  [[p["project"], p["sessions"], p["sessions_with_errors"], p["errors"]]
                   for p in rep["by_project"]])

    add("")
    add("By session-file size (1 MB = 1 MiB = 1048576 bytes)")
    out += _table(["size", "sessions", "share", "with errors", "errors", "share of errors",
                   "errors/affected session"],
                  [[b["bucket"], b["sessions"], _pct(b["share_of_sessions"]),
                    b["sessions_with_errors"], b["errors"], _pct(b["share_of_errors"]),
                    _num(b["errors_per_affected_session"])] for b in rep["size_buckets"]])

    if rep["affected_sessions"]:
        add("")
        add("Sessions with errors")
        out += _table(["project", "session", "size", "bucket", "errors", "first (UTC)", "last (UTC)"],
                      [[a["project"], a["session"], _mib(a["bytes"]), a["bucket"], a["errors"],
                        a["first"] or "-", a["last"] or "-"] for a in rep["affected_sessions"]])

    add("")
    add("Retry attempts (recovered = chains whose last api_error has this retryAttempt and whose")
    add("next assistant message is a real answer)")
    out += _table(["attempt", "triggered", "recovered", "rate"],
                  [[r["attempt"], r["triggered"], r["recovered"], _pct(r["rate"])]
                   for r in rep["retry_curve"]])
    c = rep["chains"]
    add(f"  failure chains: {c['total']} = {c['recovered']} recovered + {c['unrecovered']} "
        f"unrecovered (synthetic API Error; {c['exhausted']} at maxRetries) + {c['unknown']} unknown"
        + (" (" + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c["unknown_by_reason"].items() if v)
           + ")" if c["unknown"] else ""))

    add("")
    add("Gap from the preceding event in the same session to each api_error")
    out += _table(["gap", "count"], [[k, v] for k, v in rep["gaps"].items()])
    g = rep["gap_stats"]
    add(f"  median {_num(g['median_s'])} s, p90 {_num(g['p90_s'])} s (n={g['n']}; "
        f"no preceding event: {g['no_preceding_event']})")

    add("")
    add("Per UTC day")
    out += _bars(list(rep["by_day_utc"].items()))

    add("")
    add(f"Per local hour ({rep['tz']})")
    out += _bars([(h, v) for h, v in rep["by_hour_local"].items() if v])

    add("")
    add("Per weekday (UTC): " + ", ".join(f"{d} {v}" for d, v in rep["by_weekday_utc"].items()))

    b = rep["bursts"]
    add("")
    add(f"Bursts (>= 2 api_errors, each within {b['window_s']:g} s of the previous; all sessions "
        "together)")
    add(f"  {b['count']} bursts, {b['errors_in_bursts']} errors in bursts ({_pct(b['share'])} of "
        f"timed errors); within single sessions: {b['same_session']['count']} bursts, "
        f"{b['same_session']['errors_in_bursts']} errors")

    s = rep["synthetic_api_errors"]
    add("")
    add(f"Synthetic \"API Error\" assistant turns: {s['count']}")
    for k, v in s["kinds"].items():
        add(f"  {k}: {v}")

    add("")
    add(f"Malformed lines: {rep['malformed_lines']}"
        + ("" if rep["strict"] else " (lines not parsed are checked only for {...}; --strict "
                                    "parses every line)"))
    return "\n".join(out) + "\n"
