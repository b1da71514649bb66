"""Read-side queries over the trace store: sessions, their sums, the last step.

The SQL lives here. The sums are `Tally.of_call` written in SQL (`TALLY_SELECT`, over call
rows) or read from the table of sums (`agentwrap.trace.sums`, finished calls per quarter hour,
model and step), into the `Tally` and `Ledger` of `agentwrap.trace.tally`; tests hold both to
`Tally.of_call`, so the panel, the statusline, the summary and the reports always agree. The
way the sums are written out is `agentwrap.fmt`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from agentwrap.fmt import UNKNOWN_MODEL
from agentwrap.processes import process_alive
from agentwrap.trace.store import TraceStore, row_to_dict
from agentwrap.trace.sums import BUCKET_S, SUMS_SELECT
from agentwrap.trace.tally import OK, STREAMING, UNKNOWN_STEP, Ledger, Tally

# Queries take an open TraceStore, or a bare (e.g. read-only) sqlite3 connection to one.
Source = TraceStore | sqlite3.Connection


def connection(source: Source) -> sqlite3.Connection:
    """The sqlite3 connection behind a source."""
    return source.conn if isinstance(source, TraceStore) else source


def last_step_call(source: Source, session_id: str) -> dict[str, Any] | None:
    """The call that handled the last step: the newest answered (or in-flight) agent step,
    else the newest answered call of any kind, else the newest call."""
    rows = (
        connection(source)
        .execute(
            "SELECT * FROM calls WHERE session_id = ? AND (model IS NOT NULL OR requested_model "
            "IS NOT NULL) ORDER BY seq DESC, started_at DESC LIMIT 50",
            (session_id,),
        )
        .fetchall()
    )
    calls = [row_to_dict(r) for r in rows]
    # A call in flight or answered handled its step; a failed or refused one did not.
    for call in calls:
        if call.get("step") != "background" and call.get("status") in (OK, STREAMING):
            return call
    for call in calls:
        if call.get("status") in (OK, STREAMING):
            return call
    return calls[0] if calls else None


def session_running(session: dict[str, Any]) -> bool:
    """A session is running when it has not ended and its launcher process is alive (the
    same process: a reused pid does not count)."""
    if session.get("ended_at") is not None:
        return False
    pid = session.get("pid")
    return process_alive(pid, session.get("pid_started")) if pid else True


def pick_session(
    store: TraceStore, ref: str | None, include_demo: bool = True
) -> dict[str, Any] | None:
    """A session by id, unique prefix or 'last'; with no ref, the newest running one, else the
    newest (a demo session for 'last' or no ref only with `include_demo`)."""
    if ref not in (None, ""):
        return store.resolve_session(ref, include_demo=include_demo)
    demo = "" if include_demo else "AND is_demo = 0"
    rows = store.conn.execute(
        f"SELECT * FROM sessions WHERE ended_at IS NULL {demo} ORDER BY started_at DESC LIMIT 20"
    ).fetchall()
    for row in rows:
        session = store.session(row["id"])
        if session and session_running(session):
            return session
    return store.resolve_session(None, include_demo=include_demo)


# `Tally.of_call` summed in SQL, field by field, so a report over a million calls is one
# aggregate query instead of a million row dicts. tests/trace/test_sums.py holds the two to
# the same answers on every kind of call row.
_EFFECTIVE_BASELINE = """(CASE
    WHEN baseline_cost_usd IS NOT NULL THEN baseline_cost_usd
    WHEN cost_usd IS NOT NULL AND COALESCE(model, '') != ''
        AND model = COALESCE(NULLIF(baseline_model, ''), requested_model) THEN cost_usd
    END)"""
# What a call row gives the sums besides its plain columns (see _TALLY_COLUMNS).
_CALL_VALUES = {
    # json_array_length is 0 for valid JSON that is not an array.
    "fallback": "CASE WHEN json_valid(attempts) THEN json_array_length(attempts) > 1 END",
    "unpriced": "cost_usd IS NULL AND (COALESCE(unpriced_reason, '') != '' OR status = 'ok')",
    "baseline": _EFFECTIVE_BASELINE,
    "finished": "started_at + total_ms / 1000.0",
}
_PLAIN_COLUMNS = (
    "status",
    "outcome",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "would_cost_usd",
    "started_at",
)
# Each Tally field as an aggregate over the plain columns and the {values} above.
_TALLY_COLUMNS = {
    "calls": "COUNT(*)",
    "ok": "SUM(status = 'ok')",
    "streaming": "SUM(status = 'streaming')",
    "failed": "SUM(status IN ('error', 'proxy_error'))",
    "aborted": "SUM(status = 'aborted')",
    "refused": "SUM(status = 'refused')",
    "fallbacks": "SUM({fallback})",
    "steps_succeeded": "SUM(outcome = 'succeeded')",
    "steps_failed": "SUM(outcome = 'failed')",
    "steps_interrupted": "SUM(outcome = 'interrupted')",
    "input_tokens": "SUM(COALESCE(input_tokens, 0))",
    "output_tokens": "SUM(COALESCE(output_tokens, 0))",
    "cache_write_tokens": "SUM(COALESCE(cache_creation_tokens, 0))",
    "cache_read_tokens": "SUM(COALESCE(cache_read_tokens, 0))",
    "cost_usd": "TOTAL(cost_usd)",
    "priced_calls": "COUNT(cost_usd)",
    "unpriced_calls": "SUM({unpriced})",
    "baseline_usd": "TOTAL({baseline})",
    "baseline_calls": "COUNT({baseline})",
    "compared_calls": "COUNT(CASE WHEN cost_usd IS NOT NULL THEN {baseline} END)",
    "compared_cost_usd": "TOTAL(CASE WHEN {baseline} IS NOT NULL THEN cost_usd END)",
    "compared_baseline_usd": "TOTAL(CASE WHEN cost_usd IS NOT NULL THEN {baseline} END)",
    "would_calls": "COUNT(CASE WHEN cost_usd IS NOT NULL THEN would_cost_usd END)",
    "would_cost_usd": "TOTAL(CASE WHEN cost_usd IS NOT NULL THEN would_cost_usd END)",
    "would_actual_usd": "TOTAL(CASE WHEN would_cost_usd IS NOT NULL THEN cost_usd END)",
    "first_started": "MIN(started_at)",
    "last_finished": "MAX({finished})",
}


def _tally_select(values: dict[str, str]) -> str:
    return ", ".join(f"{sql.format(**values)} AS {name}" for name, sql in _TALLY_COLUMNS.items())


# The sums over call rows, each value written out where it is used.
TALLY_SELECT = _tally_select({name: f"({sql})" for name, sql in _CALL_VALUES.items()})
# The sums over the rows of _CALL_ROWS: each value worked out once per call.
_TALLY_OVER_VALUES = _tally_select({name: name for name in _CALL_VALUES})
_CALL_ROWS = ", ".join(
    [*_PLAIN_COLUMNS, *(f"{sql} AS {name}" for name, sql in _CALL_VALUES.items())]
)
# How a call is grouped by model and by step kind, as tally.model_key and step_key say.
MODEL_KEY_SQL = f"COALESCE(NULLIF(model, ''), NULLIF(requested_model, ''), '{UNKNOWN_MODEL}')"
STEP_KEY_SQL = f"COALESCE(NULLIF(step, ''), '{UNKNOWN_STEP}')"


def tally_of_row(row: sqlite3.Row) -> Tally:
    """A Tally from a row selected with TALLY_SELECT."""
    values = {name: row[name] for name in _TALLY_COLUMNS}
    for name, value in values.items():
        if value is None and name not in ("first_started", "last_finished"):
            values[name] = 0  # SUM over no rows
    return Tally(**values)


def tallies_by(
    source: Source, key_sql: str, where: str = "", args: tuple[Any, ...] = ()
) -> dict[Any, Tally]:
    """One Tally per value of `key_sql` (an SQL expression over a call row) over the call rows
    `where` selects."""
    if key_sql in _INDEXED_KEYS:
        sql = f"SELECT {key_sql} AS key, {TALLY_SELECT} FROM calls {where} GROUP BY 1"
    else:
        # SQLite sorts the rows to group them: the calls' values (numbers, worked out once
        # each) are sorted, not their columns (the attempts' JSON among them). LIMIT -1 keeps
        # the inner query from being merged into the outer one.
        sql = (
            f"SELECT key, {_TALLY_OVER_VALUES} FROM "
            f"(SELECT {key_sql} AS key, {_CALL_ROWS} FROM calls {where} LIMIT -1) GROUP BY 1"
        )
    rows = connection(source).execute(sql, args)
    return {row["key"]: tally_of_row(row) for row in rows}


# Keys an index gives the calls in the order of: grouping by them sorts nothing.
_INDEXED_KEYS = {"session_id"}


def summed_tallies_by(
    source: Source, key_sql: str, where: str = "", args: tuple[Any, ...] = ()
) -> dict[Any, Tally]:
    """One Tally per value of `key_sql` (an SQL expression over a call_sums row) over the rows
    of the table of sums `where` selects: the calls in a final state, not those in flight."""
    rows = connection(source).execute(
        f"SELECT {key_sql} AS key, {SUMS_SELECT} FROM call_sums {where} GROUP BY 1", args
    )
    return {row["key"]: tally_of_row(row) for row in rows}


def session_total(source: Source, session_id: str) -> Tally:
    """Totals for one session, summed by SQLite (what the statusline shows)."""
    found = tallies_by(source, "session_id", "WHERE session_id = ?", (session_id,))
    return found.get(session_id, Tally())


def _unpriced_reasons(
    conn: sqlite3.Connection, where: str, args: tuple[Any, ...]
) -> dict[str, str]:
    # Each model's first unpriced reason in call order, as ledger_of keeps them.
    unpriced = f"{where} AND" if where else "WHERE"
    return {
        row[0]: str(row[1])
        for row in conn.execute(
            f"SELECT {MODEL_KEY_SQL}, unpriced_reason, MIN(started_at) FROM calls "
            f"{unpriced} cost_usd IS NULL AND COALESCE(unpriced_reason, '') != '' GROUP BY 1",
            args,
        )
    }


def sessions_ledger(source: Source, session_ids: Sequence[str]) -> Ledger:
    """A Ledger over every call of these sessions, as `ledger_of` makes it from their rows
    (tests/trace/test_sums.py holds it to that), from the table of sums (trace.sums: the
    finished calls, a row per quarter hour, model and step) and the calls still in flight: a
    few rows per quarter hour read instead of every call."""
    conn = connection(source)
    if not session_ids:
        return Ledger()
    marks = ",".join("?" * len(session_ids))
    ids = tuple(session_ids)
    # The quarter hours the sessions' calls start in (one more each side: SQL's floor and
    # Python's may round a start on a bucket's edge apart).
    starts = [
        conn.execute(
            f"SELECT started_at FROM calls WHERE session_id = ? ORDER BY started_at {way} LIMIT 1",
            (session_id,),
        ).fetchone()
        for session_id in ids
        for way in ("", "DESC")
    ]
    found = [row[0] for row in starts if row is not None]
    groups: list[tuple[str, str, Tally]] = []
    if found:
        rows = conn.execute(
            f"SELECT model_key, step_key, {SUMS_SELECT} FROM call_sums "
            f"WHERE bucket BETWEEN ? AND ? AND session_id IN ({marks}) GROUP BY 1, 2",
            (int(min(found) // BUCKET_S) - 1, int(max(found) // BUCKET_S) + 1, *ids),
        )
        groups = [(row["model_key"], row["step_key"], tally_of_row(row)) for row in rows]
    in_flight = conn.execute(
        f"SELECT {MODEL_KEY_SQL} AS model_key, {STEP_KEY_SQL} AS step_key, {TALLY_SELECT} "
        f"FROM calls INDEXED BY calls_in_flight WHERE status = '{STREAMING}' "
        f"AND session_id IN ({marks}) GROUP BY 1, 2",
        ids,
    )
    groups += [(row["model_key"], row["step_key"], tally_of_row(row)) for row in in_flight]
    return Ledger.of_groups(groups, _unpriced_reasons(conn, f"WHERE session_id IN ({marks})", ids))


def note_counts(
    source: Source, start: str, end: str, where: str = "", args: tuple[Any, ...] = ()
) -> list[tuple[str, int, float, int]]:
    """The notes in the reasons of the call rows `where` selects, counted by SQLite: a note is
    a reason's text from its first `start` to the first `end` after it (through `end`; "" when
    no `end` follows), each with its number of calls and the start time and seq of its first
    call, in no particular order."""
    scope = f"{where} AND" if where else "WHERE"
    # What follows a note's end may differ per call (a price); the note itself is the group.
    rows = connection(source).execute(
        "SELECT CASE WHEN instr(note, ?) > 0 THEN substr(note, 1, instr(note, ?) + ? - 1) "
        "ELSE '' END, COUNT(*), MIN(started_at), seq FROM "
        f"(SELECT substr(reason, instr(reason, ?)) AS note, started_at, seq FROM calls "
        f"{scope} instr(reason, ?) > 0 LIMIT -1) GROUP BY 1",
        (end, end, len(end), start, *args, start),
    )
    return [(str(note), int(count), float(first), int(seq)) for note, count, first, seq in rows]


def cost_series_of(
    source: Source,
    widths: Sequence[int],
    start: float | None,
    end: float | None,
    where: str = "",
    args: tuple[Any, ...] = (),
) -> list[list[float]]:
    """`tally.cost_series` over the call rows `where` selects, summed by SQLite: one series per
    number of buckets in `widths`, in one pass over the rows."""
    conn = connection(source)
    finished = "(started_at + COALESCE(total_ms, 0) / 1000.0)"
    priced = f"{where} AND" if where else "WHERE"
    priced += " cost_usd IS NOT NULL AND started_at IS NOT NULL"
    out = [[0.0] * max(buckets, 0) for buckets in widths]
    if start is None or end is None:
        lo, hi = conn.execute(
            f"SELECT MIN({finished}), MAX({finished}) FROM calls {priced}", args
        ).fetchone()
        if lo is None:
            return out
        start = lo if start is None else start
        end = hi if end is None else end
    wanted = [(i, buckets) for i, buckets in enumerate(widths) if buckets > 0]
    if not wanted:
        return out
    span = max(end - start, 1e-9)
    index = f"MIN(MAX(CAST(({finished} - ?) / ? * ? AS INTEGER), 0), ?)"
    groups = ", ".join(str(n) for n in range(1, len(wanted) + 1))
    bound: list[Any] = []
    for _, buckets in wanted:
        bound += [start, span, buckets, buckets - 1]
    rows = conn.execute(
        f"SELECT {', '.join(index for _ in wanted)}, TOTAL(cost_usd) FROM calls {priced} "
        f"GROUP BY {groups}",
        (*bound, *args),
    )
    for row in rows:
        cost = row[-1]
        for (i, _), bucket in zip(wanted, row, strict=False):
            out[i][bucket] += cost
    return out
