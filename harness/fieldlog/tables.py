"""Aggregation: streamed lines of session files -> the field report's tables (one dict).

Definitions (also in harness/fieldlog/README.md):

session      one JSONL file (its size picks the size bucket). sessionIds inside records are
             only counted (``session_ids_in_errors``): resumed sessions carry older ids.
event        a record with a top-level ``timestamp`` (user, assistant, system, attachment...).
failure chain  the api_error records of one session file (main thread and sidechain kept
             apart) up to the next assistant record:
               real answer                    -> recovered at the chain's last retryAttempt
               synthetic API Error message    -> unrecovered
               none                           -> unknown, by reason: end_of_file;
                 restarted (a retryAttempt <= the previous one: a new request failed);
                 user_record (a user record came first: a new prompt or an interrupt);
                 other_synthetic (e.g. "No response requested." after an interrupt)
retry_curve  per attempt n: triggered = api_error records with retryAttempt n; recovered =
             recovered chains whose last retryAttempt is n; rate = recovered / triggered.
gap          per api_error: its timestamp minus that of the preceding event in the same file
             (the previous api_error counts); bucket <1s 1-10s 10-60s 1-5min 5-30min >30min
             (lower bound inclusive; a negative gap counts as <1s); none if it is the first.
burst        a maximal run of api_errors, ordered by time, each within 60 s (inclusive) of
             the previous one, with >= 2 errors. Machine-wide by default (all files together,
             as the field report counts: 36 bursts / 181 errors); ``same_session`` has the
             per-file count too.
day / hour   of each timed api_error: UTC day, UTC weekday, and hour in the --tz zone.

Lazy parsing: a line is json-parsed only if it may be an api_error (has ``"api_error"``), an
assistant record that matters (has ``"assistant"`` while a chain is open, or a synthetic
marker), a user record while a chain is open (has ``"user"``), or - lazily, only when an
api_error follows it - the preceding event. Other lines are
counted and checked cheaply (a JSON object starts with ``{`` and ends with ``}``); ``strict``
parses every line, so ``malformed_lines`` then counts every invalid line.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from . import model
from .reader import Line, SessionFile

MB = 1024 * 1024
SIZE_BUCKETS = (("<1MB", 0, 1 * MB), ("1-3MB", 1 * MB, 3 * MB), ("3-6MB", 3 * MB, 6 * MB),
                (">=6MB", 6 * MB, None))
GAP_BUCKETS = (("<1s", 1), ("1-10s", 10), ("10-60s", 60), ("1-5min", 300), ("5-30min", 1800),
               (">30min", None))
BURST_WINDOW = 60.0
UNKNOWN_REASONS = ("end_of_file", "restarted", "user_record", "other_synthetic")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SCHEMA_VERSION = 1


def size_bucket(nbytes: int) -> str:
    for name, lo, hi in SIZE_BUCKETS:
        if nbytes >= lo and (hi is None or nbytes < hi):
            return name
    raise AssertionError(nbytes)


def gap_bucket(seconds: float) -> str:
    for name, hi in GAP_BUCKETS:
        if hi is None or seconds < hi:
            return name
    raise AssertionError(seconds)


# -- time zones ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    """Where "local hour" is taken: a tzinfo, or the machine's local time (DST-aware)."""

    label: str
    tz: tzinfo | None  # None: time.localtime

    def hour(self, ts: float) -> int:
        if self.tz is None:
            return time.localtime(ts).tm_hour
        return datetime.fromtimestamp(ts, self.tz).hour


def parse_zone(spec: str | None) -> Zone:
    """``None``/"local", "UTC"/"Z", an offset ("-05:00", "-5", "+0530", "UTC-5"), or an IANA
    name ("America/Chicago"). ValueError otherwise."""
    import re

    if spec is None or spec.strip().lower() == "local":
        names = "/".join(dict.fromkeys(time.tzname))
        return Zone(f"local ({names})", None)
    s = spec.strip()
    if s.upper() in ("UTC", "Z", "GMT"):
        return Zone("UTC", UTC)
    m = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", s, re.I)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"offset out of range: {spec!r}")
        delta = timedelta(hours=hours, minutes=minutes) * (-1 if m.group(1) == "-" else 1)
        sign = "-" if delta < timedelta(0) else "+"
        total = abs(int(delta.total_seconds())) // 60
        return Zone(f"UTC{sign}{total // 60:02d}:{total % 60:02d}", timezone(delta))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return Zone(s, ZoneInfo(s))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a UTC offset or time zone name: {spec!r}") from None


# -- per-file state --------------------------------------------------------------------------


@dataclass
class _File:
    src: SessionFile
    nbytes: int = 0
    errors: int = 0
    chains: dict[bool, list[model.ApiError]] = field(default_factory=dict)  # sidechain -> chain
    prev_ts: float | None = None  # the latest event whose timestamp is known
    prev_raw: bytes | None = None  # a later event line not parsed yet (lazy)
    prev_frag: float | None = None  # ... or an oversize line's best-effort timestamp
    first: float | None = None
    last: float | None = None


class Analyzer:
    """Feed it files (``add_file``), then ``report()``."""

    def __init__(self, zone: Zone | None = None, strict: bool = False):
        self.zone = zone or parse_zone("UTC")
        self.strict = strict
        self.files = 0
        self.unreadable = 0
        self.bytes = 0
        self.lines = 0
        self.parsed = 0
        self.blank = 0
        self.malformed = 0
        self.oversize = 0
        self.errors = 0
        self.untimed = 0
        self.no_attempt = 0
        self.duplicates = 0
        self.uuids: set[str] = set()
        self.session_ids: set[str] = set()
        self.by_code: Counter[str] = Counter()
        self.by_version: Counter[str] = Counter()
        self.by_max: Counter[str] = Counter()
        self.paths = Counter({"present": 0, "absent": 0})
        self.triggered: Counter[int] = Counter()
        self.recovered: Counter[int] = Counter()
        self.chains = Counter({"total": 0, "recovered": 0, "unrecovered": 0, "unknown": 0,
                               "exhausted": 0})
        self.unknown_by = Counter({r: 0 for r in UNKNOWN_REASONS})
        self.synthetic: Counter[str] = Counter()
        self.gaps = Counter({name: 0 for name, _ in GAP_BUCKETS})
        self.gap_values: list[float] = []
        self.no_preceding = 0
        self.error_times: list[tuple[float, int]] = []  # (ts, file number)
        self.buckets = {name: Counter(sessions=0, sessions_with_errors=0, errors=0)
                        for name, _, _ in SIZE_BUCKETS}
        self.projects: dict[str, Counter] = {}
        self.affected: list[dict] = []

    # -- parsing helpers -----------------------------------------------------------------

    def _loads(self, data: bytes) -> dict | None:
        self.parsed += 1
        rec = model.loads(data)
        if rec is None:
            self.malformed += 1
        return rec

    def _preceding_ts(self, st: _File) -> float | None:
        """Resolve the lazily kept preceding event, if any, and return its timestamp."""
        if st.prev_raw is not None:
            rec = self._loads(st.prev_raw)
            st.prev_raw = None
            ts = model.event_ts(rec) if rec is not None else None
            if ts is not None:
                st.prev_ts = ts
        elif st.prev_frag is not None:
            st.prev_ts, st.prev_frag = st.prev_frag, None
        return st.prev_ts

    # -- chains ----------------------------------------------------------------------------

    def _close(self, chain: list[model.ApiError], outcome: str, reason: str | None = None) -> None:
        self.chains["total"] += 1
        self.chains[outcome] += 1
        if outcome == "unknown":
            self.unknown_by[reason] += 1
        last = chain[-1]
        if outcome == "recovered" and last.attempt is not None:
            self.recovered[last.attempt] += 1
        if outcome == "unrecovered" and last.attempt is not None and last.attempt == last.max_retries:
            self.chains["exhausted"] += 1

    def _on_error(self, st: _File, err: model.ApiError) -> None:
        self.errors += 1
        st.errors += 1
        self.by_code[err.code] += 1
        self.by_version[err.version or model.UNKNOWN_CODE] += 1
        self.by_max[str(err.max_retries) if err.max_retries is not None else model.UNKNOWN_CODE] += 1
        self.paths["present" if err.has_path else "absent"] += 1
        if err.session_id:
            self.session_ids.add(err.session_id)
        if err.uuid:
            if err.uuid in self.uuids:
                self.duplicates += 1
            self.uuids.add(err.uuid)
        if err.attempt is None:
            self.no_attempt += 1
        else:
            self.triggered[err.attempt] += 1
        prev = self._preceding_ts(st)
        if err.ts is None:
            self.untimed += 1
        else:
            if prev is None:
                self.no_preceding += 1
            else:
                gap = err.ts - prev
                self.gaps[gap_bucket(gap)] += 1
                self.gap_values.append(max(0.0, gap))
            self.error_times.append((err.ts, self.files))
            st.first = err.ts if st.first is None else min(st.first, err.ts)
            st.last = err.ts if st.last is None else max(st.last, err.ts)
            st.prev_ts = err.ts
        chain = st.chains.get(err.sidechain)
        if chain:
            before = chain[-1].attempt
            if err.attempt is not None and before is not None and err.attempt <= before:
                self._close(chain, "unknown", "restarted")  # a new request failed
                chain = None
        if chain:
            chain.append(err)
        else:
            st.chains[err.sidechain] = [err]

    def _on_assistant(self, st: _File, kind: str, sidechain: bool) -> None:
        chain = st.chains.pop(sidechain, None)
        if chain:
            outcome = {model.REAL: "recovered", model.SYNTHETIC_API_ERROR: "unrecovered"}.get(kind)
            self._close(chain, outcome or "unknown", None if outcome else "other_synthetic")

    def _on_user(self, st: _File, sidechain: bool) -> None:
        chain = st.chains.pop(sidechain, None)
        if chain:
            self._close(chain, "unknown", "user_record")

    # -- one file ----------------------------------------------------------------------------

    def add_file(self, src: SessionFile, lines: Iterable[Line] | Callable[[], Iterable[Line]]) -> None:
        """Scan one session file. ``lines`` may be a callable that opens it (OSError ->
        counted as unreadable, the file is skipped)."""
        st = _File(src)
        self.files += 1
        try:
            for ln in (lines() if callable(lines) else lines):
                self._line(st, ln)
        except OSError:
            self.unreadable += 1
        for chain in st.chains.values():
            if chain:
                self._close(chain, "unknown", "end_of_file")
        self.bytes += st.nbytes
        bucket = self.buckets[size_bucket(st.nbytes)]
        bucket["sessions"] += 1
        proj = self.projects.setdefault(src.project, Counter(sessions=0, sessions_with_errors=0,
                                                             errors=0))
        proj["sessions"] += 1
        if st.errors:
            bucket["sessions_with_errors"] += 1
            bucket["errors"] += st.errors
            proj["sessions_with_errors"] += 1
            proj["errors"] += st.errors
            self.affected.append({
                "project": src.project, "session": src.session, "bytes": st.nbytes,
                "bucket": size_bucket(st.nbytes), "errors": st.errors,
                "first": _iso(st.first), "last": _iso(st.last),
            })

    def _line(self, st: _File, ln: Line) -> None:
        self.lines += 1
        st.nbytes += ln.nbytes
        if ln.data is None:
            self._oversize(st, ln)
            return
        data = ln.data.strip()
        if not data:
            self.blank += 1
            return
        if data[:1] != b"{" or data[-1:] != b"}":
            self.malformed += 1  # not a JSON object, no need to parse
            return
        rec: dict | None = None
        tried = False
        if self.strict or model.MARK_API_ERROR in data:
            rec, tried = self._loads(data), True
        elif model.MARK_ASSISTANT in data and (
                any(st.chains.values()) or any(m in data for m in model.MARKS_SYNTHETIC)):
            rec, tried = self._loads(data), True
        elif model.MARK_USER in data and any(st.chains.values()):
            rec, tried = self._loads(data), True
        if rec is not None:
            if model.is_api_error(rec):
                self._on_error(st, model.api_error(rec))
                return
            kind = model.assistant_kind(rec)
            if kind is not None:
                if kind == model.SYNTHETIC_API_ERROR:
                    self.synthetic[model.synthetic_kind(rec)] += 1
                self._on_assistant(st, kind, rec.get("isSidechain") is True)
            elif rec.get("type") == "user":
                self._on_user(st, rec.get("isSidechain") is True)
            ts = model.event_ts(rec)
            if ts is not None:
                st.prev_ts, st.prev_raw, st.prev_frag = ts, None, None
        elif not tried and model.MARK_TIMESTAMP in data and not data.startswith(model.NOT_EVENTS):
            st.prev_raw, st.prev_frag = data, None  # maybe an event: parse only if needed

    def _oversize(self, st: _File, ln: Line) -> None:
        """A line longer than max_line: an api_error is never that long; an assistant record
        that long is a real answer. Its timestamp is best effort (see model.fragment_ts)."""
        self.oversize += 1
        if model.fragment_is_assistant(ln.head, ln.tail):
            self._on_assistant(st, model.REAL, model.fragment_is_sidechain(ln.head))
        ts = model.fragment_ts(ln.head, ln.tail)
        if ts is not None:
            st.prev_raw, st.prev_frag = None, ts

    # -- the tables ------------------------------------------------------------------------------

    def _bursts(self, times: list[float]) -> tuple[int, int]:
        count = inside = 0
        run = 0
        prev = None
        for t in sorted(times):
            if prev is not None and t - prev <= BURST_WINDOW:
                run += 1
            else:
                if run >= 2:
                    count, inside = count + 1, inside + run
                run = 1
            prev = t
        if run >= 2:
            count, inside = count + 1, inside + run
        return count, inside

    def report(self) -> dict:
        timed = [t for t, _ in self.error_times]
        per_file: dict[int, list[float]] = defaultdict(list)
        for t, n in self.error_times:
            per_file[n].append(t)
        b_count, b_in = self._bursts(timed)
        s_count = s_in = 0
        for times in per_file.values():
            c, i = self._bursts(times)
            s_count, s_in = s_count + c, s_in + i
        days = Counter(datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d") for t in timed)
        weekdays = Counter(WEEKDAYS[datetime.fromtimestamp(t, UTC).weekday()] for t in timed)
        hours = Counter(self.zone.hour(t) for t in timed)
        attempts = sorted(self.triggered.keys() | self.recovered.keys())
        gaps = sorted(self.gap_values)
        sessions = sum(b["sessions"] for b in self.buckets.values())
        affected = sum(b["sessions_with_errors"] for b in self.buckets.values())
        return {
            "schema_version": SCHEMA_VERSION,
            "tz": self.zone.label,
            "strict": self.strict,
            "totals": {
                "files": self.files,
                "unreadable_files": self.unreadable,
                "bytes": self.bytes,
                "projects": len(self.projects),
                "projects_with_errors": sum(1 for p in self.projects.values() if p["errors"]),
                "sessions": sessions,
                "sessions_with_errors": affected,
                "session_ids_in_errors": len(self.session_ids),
                "api_errors": self.errors,
                "api_errors_untimed": self.untimed,
                "api_errors_without_attempt": self.no_attempt,
                "duplicate_api_errors": self.duplicates,
                "versions": len(self.by_version),
            },
            "lines": {"total": self.lines, "parsed": self.parsed, "blank": self.blank,
                      "malformed": self.malformed, "oversize": self.oversize},
            "malformed_lines": self.malformed,
            "by_code": dict(sorted(self.by_code.items(), key=lambda kv: (-kv[1], kv[0]))),
            "cause_path": dict(self.paths),
            "by_version": dict(sorted(self.by_version.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_max_retries": dict(sorted(self.by_max.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_project": [{"project": name, **{k: c[k] for k in ("sessions", "sessions_with_errors",
                                                                   "errors")}}
                           for name, c in self.projects.items()],
            "size_bucket_unit_bytes": MB,
            "size_buckets": [
                {"bucket": name, "sessions": c["sessions"],
                 "sessions_with_errors": c["sessions_with_errors"], "errors": c["errors"],
                 "errors_per_affected_session": _ratio(c["errors"], c["sessions_with_errors"]),
                 "share_of_sessions": _ratio(c["sessions"], sessions),
                 "share_of_errors": _ratio(c["errors"], self.errors)}
                for name, c in self.buckets.items()],
            "affected_sessions": sorted(self.affected, key=lambda a: (-a["errors"], a["project"],
                                                                      a["session"])),
            "retry_curve": [{"attempt": n, "triggered": self.triggered[n],
                             "recovered": self.recovered[n],
                             "rate": _ratio(self.recovered[n], self.triggered[n])}
                            for n in attempts],
            "chains": {**self.chains, "unknown_by_reason": dict(self.unknown_by)},
            "synthetic_api_errors": {"count": sum(self.synthetic.values()),
                                     "kinds": dict(sorted(self.synthetic.items(),
                                                          key=lambda kv: (-kv[1], kv[0])))},
            "gaps": dict(self.gaps),
            "gap_stats": {"n": len(gaps), "no_preceding_event": self.no_preceding,
                          "median_s": _round(statistics.median(gaps)) if gaps else None,
                          "p90_s": _round(_quantile(gaps, 0.9)) if gaps else None},
            "bursts": {"window_s": BURST_WINDOW, "scope": "machine", "count": b_count,
                       "errors_in_bursts": b_in, "share": _ratio(b_in, len(timed)),
                       "same_session": {"count": s_count, "errors_in_bursts": s_in}},
            "by_day_utc": dict(sorted(days.items())),
            "by_weekday_utc": {d: weekdays[d] for d in WEEKDAYS},
            "by_hour_local": {f"{h:02d}": hours[h] for h in range(24)},
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _round(x: float) -> float:
    return round(x, 3)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile (the smallest value with at least q of the values <= it)."""
    import math

    k = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[k - 1]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
