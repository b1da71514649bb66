"""Cost reports across sessions: calls grouped by day, week, month, session, model or step.

The numbers come from the same `Ledger`/`Tally` arithmetic as the panel and the summary
(agentwrap.trace.tally), so a report's totals always match them. This module reads the table
of sums (agentwrap.trace.sums: the finished calls per quarter hour, session, model and step)
and the calls in flight, filtered by date, agent, project and demo, groups them, and turns
the groups into plain data for `--json`; the table itself is drawn by agentwrap.cli.reporting.

Dates are local: a call belongs to the day (week, month) its start falls on in the local
timezone, and `since`/`until` are whole local days, both included.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentwrap.trace.queries import (
    MODEL_KEY_SQL,
    STEP_KEY_SQL,
    TALLY_SELECT,
    Source,
    connection,
    summed_tallies_by,
    tallies_by,
    tally_of_row,
)
from agentwrap.trace.store import row_to_dict
from agentwrap.trace.sums import BUCKET_S, SUMS_SELECT
from agentwrap.trace.tally import Tally, model_key, step_key

GROUPINGS = ("daily", "weekly", "monthly", "session", "model", "step")
# Groupings whose rows are time periods, listed oldest first.
PERIODS = ("daily", "weekly", "monthly")

KEY_LABELS = {
    "daily": "day",
    "weekly": "week of",
    "monthly": "month",
    "session": "session",
    "model": "model",
    "step": "step",
}


@dataclass
class ReportFilter:
    """Which calls a report covers. Dates are local calendar days, both ends included."""

    since: dt.date | None = None
    until: dt.date | None = None
    agent: str | None = None
    project: Path | None = None
    include_demo: bool = False

    def as_json(self) -> dict[str, Any]:
        """The filter's fields as every report's --json gives them."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "agent": self.agent,
            "project": str(self.project) if self.project else None,
            "include_demo": self.include_demo,
        }

    def bounds(self) -> tuple[float | None, float | None]:
        """The [start, end) epoch seconds the dates stand for, in the local timezone."""
        start = _local_midnight(self.since) if self.since else None
        end = _local_midnight(self.until + dt.timedelta(days=1)) if self.until else None
        return start, end


@dataclass
class ReportRow:
    """One row of a report: its key (a date, session id, model or step) and its sums."""

    key: str
    tally: Tally
    session: dict[str, Any] | None = None


@dataclass
class Report:
    """A grouped report: rows in display order, the totals and the notes they need."""

    grouping: str
    rows: list[ReportRow]
    total: Tally
    unpriced_reasons: dict[str, str] = field(default_factory=dict)
    demo_sessions_left_out: int = 0
    filter: ReportFilter = field(default_factory=ReportFilter)


def _local_midnight(day: dt.date) -> float:
    # mktime reads the struct as local time, DST included (isdst=-1: let it decide).
    return time.mktime((day.year, day.month, day.day, 0, 0, 0, 0, 0, -1))


def local_day(ts: float) -> dt.date:
    """The local calendar day of an epoch timestamp."""
    return dt.datetime.fromtimestamp(ts).date()


def period_key(ts: float, grouping: str) -> str:
    """The label of the period a timestamp falls in: 2025-11-25, the week's Monday, 2025-11."""
    day = local_day(ts)
    if grouping == "daily":
        return day.isoformat()
    if grouping == "weekly":
        return (day - dt.timedelta(days=day.weekday())).isoformat()
    if grouping == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    raise ValueError(f"not a period grouping: {grouping}")


# The call columns a report reads (not the large JSON ones it does not need).
CALL_FIELDS = (
    "id",
    "session_id",
    "seq",
    "started_at",
    "status",
    "attempts",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "unpriced_reason",
    "baseline_model",
    "baseline_cost_usd",
    "requested_model",
    "model",
    "would_cost_usd",
    "step",
    "outcome",
    "total_ms",
)


def _call_row(row: sqlite3.Row) -> dict[str, Any]:
    call = dict(row)
    with suppress(TypeError, ValueError):
        call["attempts"] = json.loads(call["attempts"] or "[]")
    return call


def select_calls(
    source: Source, filt: ReportFilter, fields: Sequence[str] = CALL_FIELDS
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], int]:
    """The call rows a report covers (these `fields` of them), their sessions by id, and how
    many demo sessions with calls in range were left out."""
    conn = connection(source)
    where, args = _call_filter(filt)
    sql = f"SELECT {', '.join(fields)} FROM calls {_where(where)} ORDER BY started_at, seq"
    calls = [_call_row(r) for r in conn.execute(sql, args)]
    sessions = {
        r["id"]: row_to_dict(r) for r in conn.execute("SELECT * FROM sessions ORDER BY started_at")
    }
    kept: list[dict[str, Any]] = []
    demo_left: set[str] = set()
    for call in calls:
        session = sessions.get(call["session_id"]) or {}
        if session.get("is_demo") and not filt.include_demo:
            demo_left.add(call["session_id"])
            continue
        kept.append(call)
    used = {c["session_id"] for c in kept}
    return kept, {k: v for k, v in sessions.items() if k in used}, len(demo_left)


def group_rows(
    calls: Iterable[dict[str, Any]],
    grouping: str,
    sessions: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[ReportRow], Tally, dict[str, str]]:
    """Rows for a grouping in display order, the total over all the calls, and the reasons
    unpriced models are unpriced.

    Each call is counted with `Tally.of_call`, the panel's and the summary's arithmetic.
    Periods and sessions are listed oldest first; models and steps most expensive (then most
    used) first, as in the summary."""
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; one of {', '.join(GROUPINGS)}")
    tallies: dict[str, Tally] = {}
    reasons: dict[str, str] = {}
    # Periods are looked up per local hour: far fewer date conversions than calls.
    hour_keys: dict[int, str] = {}
    for call in calls:
        if grouping == "model":
            key = model_key(call)
        elif grouping == "step":
            key = step_key(call)
        elif grouping == "session":
            key = str(call["session_id"])
        else:
            started = float(call["started_at"])
            hour = int(started // 3600)
            key = hour_keys.get(hour) or hour_keys.setdefault(hour, period_key(started, grouping))
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally()
        tally.add(Tally.of_call(call))
        if call.get("cost_usd") is None and call.get("unpriced_reason"):
            reasons.setdefault(model_key(call), str(call["unpriced_reason"]))
    rows, total = _ordered_rows(tallies, grouping, sessions or {})
    return rows, total, reasons


def build_report(
    source: Source, grouping: str, filt: ReportFilter | None = None, summed: bool = True
) -> Report:
    """Select, group and total the calls a report covers.

    The finished calls come from the table of sums (`trace.sums`: per quarter hour, session,
    model and step, kept by SQLite as calls are written), so a report reads hours, not calls;
    the calls still in flight are added from their rows. `summed=False`, or a date bound that
    falls inside a quarter hour (a timezone whose offset is not whole quarter hours), sums
    every call row instead (`queries.tallies_by`, `Tally.of_call` in SQL): the reference the
    table of sums is held to.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; one of {', '.join(GROUPINGS)}")
    filt = filt or ReportFilter()
    conn = connection(source)
    where, args = _call_filter(filt)
    shown = where + ([] if filt.include_demo else [_NOT_DEMO])
    tallies = _summed_tallies(conn, grouping, filt, shown, args) if summed else None
    if tallies is None:
        tallies = _row_tallies(conn, grouping, shown, args)
    sessions: dict[str, dict[str, Any]] = {}
    if grouping == "session" and tallies:
        for r in conn.execute("SELECT * FROM sessions"):
            if r["id"] in tallies:
                sessions[r["id"]] = row_to_dict(r)
    demo_left = 0 if filt.include_demo else _demo_sessions_left_out(conn, filt)
    reasons: dict[str, str] = {}
    # The first unpriced reason of each model, in call order (as the panel and summary keep it),
    # from the index of the unpriced calls whatever the filter (an agent's sessions hold most
    # calls: SQLite would rather read them all through the session index).
    for r in conn.execute(
        f"SELECT {MODEL_KEY_SQL} AS key, unpriced_reason, MIN(started_at) FROM calls "
        f"INDEXED BY calls_unpriced {_where([*shown, _UNPRICED])} GROUP BY 1",
        args,
    ):
        reasons[r["key"]] = str(r["unpriced_reason"])
    rows, total = _ordered_rows(tallies, grouping, sessions)
    return Report(
        grouping=grouping,
        rows=rows,
        total=total,
        unpriced_reasons=reasons,
        demo_sessions_left_out=demo_left,
        filter=filt,
    )


def _demo_sessions_left_out(conn: sqlite3.Connection, filt: ReportFilter) -> int:
    """How many demo sessions the filter's agent and project select have a call in its dates:
    the demo sessions first (a few), each asked for one call in range."""
    sessions, session_args = _session_filter(filt)
    start, end = filt.bounds()
    in_range = ["calls.session_id = sessions.id"]
    range_args: list[Any] = []
    if start is not None:
        in_range.append("calls.started_at >= ?")
        range_args.append(start)
    if end is not None:
        in_range.append("calls.started_at < ?")
        range_args.append(end)
    has_call = f"EXISTS (SELECT 1 FROM calls {_where(in_range)})"
    return int(
        conn.execute(
            f"SELECT COUNT(*) FROM sessions {_where(['is_demo != 0', *sessions, has_call])}",
            (*session_args, *range_args),
        ).fetchone()[0]
    )


def _row_tallies(
    conn: sqlite3.Connection, grouping: str, where: list[str], args: list[Any]
) -> dict[str, Tally]:
    """One Tally per group, summed by SQLite from every call row `where` selects: per model,
    step or session in one grouped pass; per day, week or month one pass over each period's
    range of the start-time index, so a million calls are never sorted to be grouped."""
    if grouping in PERIODS:
        return _period_tallies(conn, grouping, where, args)
    key_sql = {"model": MODEL_KEY_SQL, "step": STEP_KEY_SQL, "session": "session_id"}
    found = tallies_by(conn, key_sql[grouping], _where(where), tuple(args))
    return {str(k): t for k, t in found.items()}


def _summed_tallies(
    conn: sqlite3.Connection,
    grouping: str,
    filt: ReportFilter,
    call_where: list[str],
    call_args: list[Any],
) -> dict[str, Tally] | None:
    """One Tally per group from the table of sums, with the calls in flight (`call_where`
    selects them among the call rows) added from their rows; None when a bound the report
    needs falls inside a quarter hour."""
    found = _sums_filter(filt)
    if found is None:
        return None
    where, args = found
    if grouping in PERIODS:
        tallies = _summed_period_tallies(conn, grouping, where, args)
        if tallies is None:
            return None
    else:
        key = {"model": "model_key", "step": "step_key", "session": "session_id"}[grouping]
        tallies = {
            str(k): t for k, t in summed_tallies_by(conn, key, _where(where), tuple(args)).items()
        }
    in_flight = conn.execute(
        f"SELECT {', '.join(CALL_FIELDS)} FROM calls INDEXED BY calls_in_flight "
        f"{_where([_IN_FLIGHT, *call_where])}",
        call_args,
    )
    for row in in_flight:
        call = _call_row(row)
        if grouping in PERIODS:
            key = period_key(float(call["started_at"]), grouping)
        elif grouping == "model":
            key = model_key(call)
        elif grouping == "step":
            key = step_key(call)
        else:
            key = str(call["session_id"])
        tallies.setdefault(key, Tally()).add(Tally.of_call(call))
    return tallies


def _summed_period_tallies(
    conn: sqlite3.Connection, grouping: str, where: list[str], args: list[Any]
) -> dict[str, Tally] | None:
    """One Tally per local day, week or month from the table of sums: one query per period,
    each a range of buckets; None when a period's bounds fall inside a quarter hour."""
    first = conn.execute(f"SELECT MIN(bucket) FROM call_sums {_where(where)}", args).fetchone()[0]
    last = conn.execute(f"SELECT MAX(bucket) FROM call_sums {_where(where)}", args).fetchone()[0]
    tallies: dict[str, Tally] = {}
    if first is None:
        return tallies
    in_period = _where([*where, "bucket >= ?", "bucket < ?"])
    day = local_day(first * BUCKET_S)
    while True:
        start, end = _period_bounds(day, grouping)
        if start % BUCKET_S or end % BUCKET_S:
            return None
        row = conn.execute(
            f"SELECT {SUMS_SELECT} FROM call_sums {in_period}",
            (*args, int(start) // BUCKET_S, int(end) // BUCKET_S),
        )
        tally = tally_of_row(row.fetchone())
        if tally.calls:
            tallies[period_key(start, grouping)] = tally
        if end // BUCKET_S > last:
            return tallies
        day = local_day(end)


def _period_tallies(
    conn: sqlite3.Connection, grouping: str, where: list[str], args: list[Any]
) -> dict[str, Tally]:
    """One Tally per local day, week or month with calls: one query per period, each a range
    of the start-time index."""
    first, last = conn.execute(
        f"SELECT MIN(started_at), MAX(started_at) FROM calls {_where(where)}", args
    ).fetchone()
    tallies: dict[str, Tally] = {}
    if first is None:
        return tallies
    in_period = _where([*where, "started_at >= ?", "started_at < ?"])
    day = local_day(first)
    while True:
        start, end = _period_bounds(day, grouping)
        row = conn.execute(f"SELECT {TALLY_SELECT} FROM calls {in_period}", (*args, start, end))
        tally = tally_of_row(row.fetchone())
        if tally.calls:
            tallies[period_key(start, grouping)] = tally
        if end > last:
            return tallies
        day = local_day(end)


def _period_bounds(day: dt.date, grouping: str) -> tuple[float, float]:
    """The [start, end) epoch seconds of the local day, week or month `day` falls in."""
    if grouping == "daily":
        first, after = day, day + dt.timedelta(days=1)
    elif grouping == "weekly":
        first = day - dt.timedelta(days=day.weekday())
        after = first + dt.timedelta(days=7)
    else:
        first = day.replace(day=1)
        after = (first + dt.timedelta(days=32)).replace(day=1)
    return _local_midnight(first), _local_midnight(after)


_DEMO = "session_id IN (SELECT id FROM sessions WHERE is_demo != 0)"
_NOT_DEMO = f"NOT {_DEMO}"
# Word for word the condition of the calls_unpriced index, so that SQLite reads only it.
_UNPRICED = "cost_usd IS NULL AND COALESCE(unpriced_reason, '') != ''"
# Likewise the calls_in_flight index's: the calls the table of sums does not hold yet.
_IN_FLIGHT = "status = 'streaming'"


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _call_filter(filt: ReportFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions on call rows for the filter's dates, agent and project (not demo)."""
    start, end = filt.bounds()
    where: list[str] = []
    args: list[Any] = []
    if start is not None:
        where.append("started_at >= ?")
        args.append(start)
    if end is not None:
        where.append("started_at < ?")
        args.append(end)
    sessions, session_args = _session_filter(filt)
    # The calls name their session: its attributes are looked up.
    where += [f"session_id IN (SELECT id FROM sessions WHERE {c})" for c in sessions]
    return where, args + session_args


def _sums_filter(filt: ReportFilter) -> tuple[list[str], list[Any]] | None:
    """SQL conditions on call_sums rows for the filter (demo sessions included or not); None
    when a date bound falls inside a quarter hour."""
    where: list[str] = []
    args: list[Any] = []
    for bound, compare in zip(filt.bounds(), (">=", "<"), strict=True):
        if bound is None:
            continue
        if bound % BUCKET_S:
            return None
        where.append(f"bucket {compare} ?")
        args.append(int(bound) // BUCKET_S)
    # The sums keep their session's attributes beside it (a missing session: none, no demo).
    sessions, session_args = _session_filter(filt)
    demo = [] if filt.include_demo else ["is_demo = 0"]
    return where + sessions + demo, args + session_args


def _session_filter(filt: ReportFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions on a session's agent, cwd and repo_root for the filter's agent and
    project."""
    where: list[str] = []
    args: list[Any] = []
    if filt.agent:
        where.append("agent = ?")
        args.append(filt.agent)
    if filt.project is not None:
        # A session belongs to the project when it ran in it (or below it), or in its repository.
        root = str(filt.project)
        below = root.rstrip("/") + "/"
        where.append(
            "(repo_root = ? OR cwd = ? OR substr(repo_root, 1, ?) = ? OR substr(cwd, 1, ?) = ?)"
        )
        args += [root, root, len(below), below, len(below), below]
    return where, args


def _ordered_rows(
    tallies: dict[str, Tally], grouping: str, sessions: dict[str, dict[str, Any]]
) -> tuple[list[ReportRow], Tally]:
    """Rows in display order (see group_rows) and their total."""
    total = Tally()
    for tally in tallies.values():
        total.add(tally)
    rows = [ReportRow(k, t) for k, t in tallies.items()]
    if grouping in ("model", "step"):
        rows.sort(key=lambda r: (-r.tally.cost_usd, -r.tally.calls, r.key))
    elif grouping == "session":
        for row in rows:
            row.session = sessions.get(row.key)

        def session_start(row: ReportRow) -> tuple[float, str]:
            first = (row.session or {}).get("started_at") or row.tally.first_started or 0.0
            return float(first), row.key

        rows.sort(key=session_start)
    else:
        # ISO dates and year-month labels sort as strings.
        rows.sort(key=lambda r: r.key)
    return rows, total


def tally_json(tally: Tally) -> dict[str, Any]:
    """A tally as JSON numbers; unknown money is null (never 0): cost with no priced call,
    baseline with no known baseline, would-cost with no observe-mode estimate."""
    out = tally.as_dict()
    out["uncompared_calls"] = tally.uncompared_calls
    if not tally.priced_calls:
        out["cost_usd"] = None
    if not tally.baseline_calls:
        out["baseline_usd"] = None
    if not tally.would_calls:
        out["would_cost_usd"] = None
        out["would_actual_usd"] = None
    return out


def report_json(report: Report) -> dict[str, Any]:
    """The report as plain data: `rows` (one object per row) and `totals`, numbers as numbers."""
    rows: list[dict[str, Any]] = []
    for row in report.rows:
        item: dict[str, Any] = {"key": row.key, **tally_json(row.tally)}
        if report.grouping == "session":
            session = row.session or {}
            item.update(
                session_id=row.key,
                agent=session.get("agent"),
                mode=session.get("mode"),
                is_demo=bool(session.get("is_demo")),
                session_started_at=session.get("started_at"),
                cwd=session.get("cwd"),
            )
        rows.append(item)
    filt = report.filter
    return {
        "grouping": report.grouping,
        **filt.as_json(),
        "demo_sessions_left_out": report.demo_sessions_left_out,
        "rows": rows,
        "totals": tally_json(report.total),
        "unpriced": dict(report.unpriced_reasons),
    }
