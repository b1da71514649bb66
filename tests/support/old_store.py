"""A trace store as the versions before the table of sums left it, for the tests of its upgrade.

The store is made by today's migrations and then taken back: call_sums, its triggers and its
index dropped and their migrations unrecorded, so the next open migrates it as it would a
store an earlier version wrote.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agentwrap.trace.store import MIGRATIONS, connect


def store_before_sums(path: Path) -> None:
    """Write, at `path`, an empty store of the schema before call_sums."""
    connect(path).close()
    first = next(v for v, (name, _) in enumerate(MIGRATIONS, 1) if name.startswith("call_sums"))
    raw = sqlite3.connect(path)
    triggers = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    assert "call_sums_relabel" in triggers
    raw.executescript(
        "".join(f"DROP TRIGGER {name}; " for name in triggers)
        + "DROP TABLE call_sums; DROP INDEX calls_in_flight; "
        f"DELETE FROM schema_migrations WHERE version >= {first};"
    )
    raw.close()


def add_finished_calls(path: Path, session_id: str, calls: int) -> None:
    """Write a session of `calls` answered calls into the store at `path` directly, as an
    earlier version's recorder left them (no table of sums to keep)."""
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO sessions(id, agent, started_at, ended_at) VALUES (?, 'claude', 0, ?)",
        (session_id, float(calls)),
    )
    conn.executemany(
        "INSERT INTO calls(id, session_id, seq, started_at, updated_at, surface, endpoint, "
        "model, step, status, input_tokens, output_tokens, cost_usd, total_ms) "
        "VALUES (?, ?, ?, ?, ?, 'anthropic', '/v1/messages', 'claude-haiku-4-5', 'explore', "
        "'ok', 100, 10, 0.001, 500)",
        ((f"{session_id}/{i}", session_id, i, float(i), float(i)) for i in range(calls)),
    )
    conn.commit()
    conn.close()
