"""Read-side queries over the trace store: a session's calls, its totals, the last step.

The SQL lives here; the sums are `agentwrap.trace.tally` (one `Ledger` for every reader, so
the panel, the statusline and the summary always agree) and the way they are written out is
`agentwrap.fmt`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from agentwrap.processes import process_alive
from agentwrap.trace.store import TraceStore, row_to_dict
from agentwrap.trace.tally import OK, STREAMING, Ledger, Tally, ledger_of

# Queries take an open TraceStore, or a bare (e.g. read-only) sqlite3 connection to one.
Source = TraceStore | sqlite3.Connection


def connection(source: Source) -> sqlite3.Connection:
    """The sqlite3 connection behind a source."""
    return source.conn if isinstance(source, TraceStore) else source


def session_calls(source: Source, session_id: str) -> list[dict[str, Any]]:
    """Every call row of a session, in start order."""
    rows = connection(source).execute(
        "SELECT * FROM calls WHERE session_id = ? ORDER BY started_at, seq", (session_id,)
    )
    return [row_to_dict(r) for r in rows]


def session_ledger(source: Source, session_id: str) -> Ledger:
    """A ledger over every call of one session."""
    return ledger_of(session_calls(source, session_id))


def session_totals(source: Source, session_id: str) -> Tally:
    """Totals for one session: calls, tokens, cost, baseline cost and savings."""
    return session_ledger(source, session_id).total


def split_by_model(source: Source, session_id: str) -> list[tuple[str, Tally]]:
    """One tally per model used in the session, most expensive first."""
    return session_ledger(source, session_id).models()


def split_by_step(source: Source, session_id: str) -> list[tuple[str, Tally]]:
    """One tally per step kind in the session, most expensive first."""
    return session_ledger(source, session_id).steps()


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
