"""The trace store: one SQLite file, WAL, numbered migrations recorded in the database.

Tables: `sessions` (one per agentwrap run), `calls` (one per inference call, written when
the call starts and updated as it progresses; its columns are the fields of
`record.CallRecord`), `events` (an append-only log of call events that other processes
tail for the live panel), `learned` (learned routing's outcome tallies per agent × step
kind × model, updated as steps are labelled) and `call_sums` (the finished calls summed per
quarter hour, session, model and step, kept by triggers on `calls`: see `trace.sums`). Bodies
and credentials are never stored.

The file, its WAL and shared-memory files are the user's alone (0600, in a 0700 directory).
Opening the store reconciles sessions whose agentwrap process died without ending them
(`kill -9`, a crash): their calls in flight become `aborted` and the session ends as killed.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap import fmt, paths
from agentwrap.processes import process_alive
from agentwrap.trace import sums
from agentwrap.trace.record import CALL_COLUMNS

if TYPE_CHECKING:  # learned routing's model loads with the first tally read: `log` reads none
    from agentwrap.route.learn import ArmKey, Evidence, Tally

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; json answers alike without it
    orjson = None  # type: ignore[assignment]

MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial schema",
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            argv TEXT NOT NULL DEFAULT '[]',
            cwd TEXT,
            repo_root TEXT,
            started_at REAL NOT NULL,
            ended_at REAL,
            exit_code INTEGER,
            profile TEXT,
            mode TEXT NOT NULL DEFAULT 'route',
            is_demo INTEGER NOT NULL DEFAULT 0,
            pid INTEGER
        );
        CREATE TABLE calls (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id),
            seq INTEGER NOT NULL,
            started_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            surface TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            requested_model TEXT,
            model TEXT,
            model_alias TEXT,
            provider TEXT,
            provider_api TEXT,
            status TEXT NOT NULL,
            http_status INTEGER,
            error TEXT,
            streamed INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_creation_tokens INTEGER,
            cache_read_tokens INTEGER,
            cost_usd REAL,
            unpriced_reason TEXT,
            baseline_model TEXT,
            baseline_cost_usd REAL,
            ttfb_ms REAL,
            total_ms REAL,
            request_bytes INTEGER,
            response_bytes INTEGER,
            step TEXT,
            evidence TEXT,
            rule TEXT,
            reason TEXT,
            attempts TEXT NOT NULL DEFAULT '[]',
            would_model TEXT,
            would_cost_usd REAL,
            thread_id TEXT,
            agent_id TEXT,
            outcome TEXT,
            features TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX calls_session ON calls(session_id, seq);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            call_id TEXT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_session ON events(session_id, id);
        """,
    ),
    (
        "calls.stop_reason: why the model stopped (tool_use, end_turn...), for outcome labels",
        "ALTER TABLE calls ADD COLUMN stop_reason TEXT",
    ),
    (
        "sessions.pid_started (the launcher's start time, against pid reuse) and "
        "sessions.end_reason ('killed' when the launcher died without ending the session)",
        """
        ALTER TABLE sessions ADD COLUMN pid_started TEXT;
        ALTER TABLE sessions ADD COLUMN end_reason TEXT
        """,
    ),
    (
        "learned routing: outcome evidence per agent × step kind × model; calls.propensity",
        """
        CREATE TABLE learned (
            agent TEXT NOT NULL,
            step TEXT NOT NULL,
            model TEXT NOT NULL,
            successes REAL NOT NULL DEFAULT 0,
            failures REAL NOT NULL DEFAULT 0,
            interrupted INTEGER NOT NULL DEFAULT 0,
            unknown INTEGER NOT NULL DEFAULT 0,
            labelled INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (agent, step, model)
        );
        ALTER TABLE calls ADD COLUMN propensity REAL
        """,
    ),
    (
        "calls.user_agent: the agent's User-Agent (its name and version, for exports)",
        "ALTER TABLE calls ADD COLUMN user_agent TEXT",
    ),
    (
        "calls.signals (the struggle signals seen with a step's outcome, JSON) and "
        "calls.outcome_evidence (what the outcome was read from)",
        """
        ALTER TABLE calls ADD COLUMN signals TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE calls ADD COLUMN outcome_evidence TEXT
        """,
    ),
    (
        "session_commits: the commits each session made in its repository, and their fate "
        "(kept, reverted, rewritten) as last checked",
        """
        CREATE TABLE session_commits (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            sha TEXT NOT NULL,
            subject TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            committed_at REAL NOT NULL,
            matched_by TEXT NOT NULL,
            fate TEXT,
            checked_at REAL,
            PRIMARY KEY (session_id, sha)
        )
        """,
    ),
    (
        "indexes for the reading commands and the launch: the newest sessions, calls by start "
        "time (report's dates) and by the agent's conversation id (the statusline), events "
        "by time (pruned at each launch)",
        """
        CREATE INDEX IF NOT EXISTS sessions_started ON sessions(started_at);
        CREATE INDEX IF NOT EXISTS calls_started ON calls(started_at, seq);
        CREATE INDEX IF NOT EXISTS calls_thread ON calls(thread_id, started_at);
        CREATE INDEX IF NOT EXISTS events_ts ON events(ts)
        """,
    ),
    (
        "calls by session in start order: a session's calls as the panel and `log` list them, "
        "without sorting them",
        "CREATE INDEX IF NOT EXISTS calls_session_started ON calls(session_id, started_at, seq)",
    ),
    (
        "the unpriced calls (the report's footnotes name each model's first reason): a few "
        "rows to read instead of every call",
        "CREATE INDEX IF NOT EXISTS calls_unpriced ON calls(started_at) "
        "WHERE cost_usd IS NULL AND COALESCE(unpriced_reason, '') != ''",
    ),
    (
        "call_sums: the finished calls summed per quarter hour, session, model and step, kept "
        "by triggers on calls (reports read hours, not calls); the calls in flight indexed",
        ";\n".join(sums.schema()),
    ),
    (
        "call_sums: a finished call's new outcome label moves only its step counters (a trigger "
        "of its own), not its whole contribution out and back in",
        ";\n".join(sums.relabel_schema()),
    ),
    (
        "call_sums: each row keeps its session's agent, demo flag, cwd and repository root "
        "beside the session id (kept by triggers on sessions), so a report's filters read rows",
        ";\n".join(sums.session_schema()),
    ),
]

# The migration that sums the calls already stored into call_sums: about 4 s a million calls.
SUMS_BUILD = next(
    version
    for version, (name, _) in enumerate(MIGRATIONS, start=1)
    if name.startswith("call_sums: the finished calls summed")
)
# A build over more calls than this is said before it starts: the command would seem to hang.
ANNOUNCED_BUILD = 50_000

SESSION_COLUMNS = [
    "id",
    "agent",
    "argv",
    "cwd",
    "repo_root",
    "started_at",
    "ended_at",
    "exit_code",
    "profile",
    "mode",
    "is_demo",
    "pid",
    "pid_started",
    "end_reason",
]
JSON_COLUMNS = {"attempts", "features", "argv", "signals"}
# Types orjson writes its own way where json hands them to `default` (or refuses them).
_OWN_TYPES = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME if orjson else 0
# Values orjson and json write alike (what holds a float or other values is looked into).
_PLAIN_TYPES = frozenset({str, int, bool, type(None)})
KILLED = "killed"  # sessions.end_reason of a session whose launcher died
KILLED_ERROR = "agentwrap was killed while the call was in flight"
# The event kinds reconciliation writes; the same kinds agentwrap.trace.recorder writes.
_FAILED_EVENT, _SESSION_ENDED_EVENT = "failed", "session_ended"
_INSERT_EVENT = "INSERT INTO events(session_id, call_id, ts, kind, data) VALUES (?, ?, ?, ?, ?)"


def connect(path: Path, notice: Callable[[str], None] | None = None) -> sqlite3.Connection:
    """Open the store (creating it, private), in WAL mode, migrated to the newest schema
    (`notice`: as for `migrate`)."""
    paths.private_dir(path.parent)
    # SQLite gives the WAL and shared-memory files the database file's mode.
    paths.private_file(path)
    for suffix in ("-wal", "-shm"):
        paths.tighten(path.with_name(path.name + suffix), paths.PRIVATE_FILE)
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    migrate(conn, notice)
    return conn


def migrate(conn: sqlite3.Connection, notice: Callable[[str], None] | None = None) -> int:
    """Apply the migrations not yet recorded; returns the schema version. `notice` is handed a
    line to say before a long one-time build (the table of sums of a store from an earlier
    version with more than ANNOUNCED_BUILD calls); without it nothing is said."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            if version == SUMS_BUILD and notice is not None:
                _announce_build(conn, notice)
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, time.time()),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


def _announce_build(conn: sqlite3.Connection, notice: Callable[[str], None]) -> None:
    calls = int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
    if calls > ANNOUNCED_BUILD:
        notice(f"building the table of sums for {fmt.count(calls)} calls (once, after an upgrade)…")


def _statements(sql: str) -> Iterator[str]:
    """The statements of a migration's SQL, split at the semicolons that end one (a trigger's
    body holds several)."""
    statement = ""
    for part in sql.split(";"):
        statement += part + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                yield statement
            statement = ""
    if statement.strip(" \n;"):
        yield statement


def json_text(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as JSON text that reads back as json.dumps(value, default=default) would.

    orjson writes it in a fraction of json's time (the trace writer encodes several values per
    call); json writes what orjson refuses, and what orjson writes another way: NaN and
    infinity, which orjson writes as null where json keeps them. A null in orjson's text is
    looked into, not re-encoded: most are a None.
    """
    if orjson is not None:
        try:
            out = orjson.dumps(value, default=default, option=_OWN_TYPES)
        except TypeError:
            pass
        else:
            if b"null" not in out or _plain(value):
                return out.decode()
    return json.dumps(value, default=default)


def _plain(value: Any) -> bool:
    """Whether `value` holds only what orjson writes as json does: no NaN or infinity, and no
    object handed to a `default` (whose answer is not looked into)."""
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    elif kind is float:
        return math.isfinite(value)
    else:
        return kind in _PLAIN_TYPES
    # The leaves are looked at here, not each in a call of its own: a call's features are a
    # dozen of them.
    for item in items:
        kind = type(item)
        if kind in _PLAIN_TYPES:
            continue
        if kind is float:
            if not math.isfinite(item):
                return False
        elif not _plain(item):
            return False
    return True


def _check_columns(table: str, columns: Iterable[str], keys: Iterable[str]) -> None:
    unknown = set(keys) - set(columns)
    if unknown:
        raise KeyError(f"unknown {table} columns: {sorted(unknown)}")


def _values(fields: dict[str, Any], json_at: tuple[int, ...]) -> list[Any]:
    """A row's values to bind, the JSON columns' (at `json_at`) as text unless they are text
    already (sqlite3 binds a bool as the integer it is)."""
    values = list(fields.values())
    for i in json_at:
        if not isinstance(values[i], str):
            values[i] = json_text(values[i])
    return values


def row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in JSON_COLUMNS & out.keys():
        with suppress(TypeError, ValueError):
            out[key] = json.loads(out[key]) if out[key] else ([] if key != "features" else {})
    return out


class TraceStore:
    """Reads and writes sessions, calls and events. Thread-safe for one writer thread.

    `notice` says a line before a long one-time migration (see `migrate`): a command passes
    one that writes to stderr; a store opened while an agent owns the terminal passes none.
    """

    def __init__(self, path: Path, notice: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.conn = connect(path, notice)
        # Each row write's statement, by table and columns: a call's writes repeat a few shapes.
        # With it, where the JSON columns are among the values it binds.
        self._statements: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[int, ...]]] = {}
        self.reconcile()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    # -- sessions -------------------------------------------------------------
    def insert_session(self, **fields: Any) -> None:
        self._insert("sessions", SESSION_COLUMNS, fields)

    def update_session(self, session_id: str, **fields: Any) -> None:
        self._update("sessions", SESSION_COLUMNS, session_id, fields)

    def session(self, session_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row_to_dict(row) if row else None

    def resolve_session(self, ref: str | None, include_demo: bool = True) -> dict[str, Any] | None:
        """A session by id, unique id prefix, or 'last' / None for the newest (a demo session
        only with `include_demo`; an id or prefix finds one whatever it is)."""
        if ref in (None, "", "last"):
            where = "" if include_demo else "WHERE is_demo = 0"
            row = self.conn.execute(
                f"SELECT * FROM sessions {where} ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
            return row_to_dict(row) if row else None
        rows = self.conn.execute(
            "SELECT * FROM sessions WHERE id LIKE ? ORDER BY started_at DESC LIMIT 2",
            (f"{ref}%",),
        ).fetchall()
        if len(rows) == 1 or (rows and rows[0]["id"] == ref):
            return row_to_dict(rows[0])
        return None

    def demo_session_count(self) -> int:
        """How many demo sessions (simulated providers) the store holds."""
        return int(
            self.conn.execute("SELECT COUNT(*) FROM sessions WHERE is_demo = 1").fetchone()[0]
        )

    def call_count(self, session_id: str) -> int:
        """How many calls a session made."""
        query = "SELECT COUNT(*) FROM calls WHERE session_id = ?"
        return int(self.conn.execute(query, (session_id,)).fetchone()[0])

    def sessions(self, limit: int = 20, include_demo: bool = False) -> list[dict[str, Any]]:
        """The newest sessions with their call count, cost and unpriced calls (counted as
        `trace.tally.is_unpriced` counts them: a call that ran without a price, not one that
        failed)."""
        where = "" if include_demo else "WHERE is_demo = 0"
        # The newest sessions first (an index), then only their calls are summed.
        rows = self.conn.execute(
            f"""WITH newest AS (
                    SELECT * FROM sessions {where} ORDER BY started_at DESC LIMIT ?
                )
                SELECT s.*, COUNT(c.id) AS calls, SUM(c.cost_usd) AS cost_usd,
                SUM(c.baseline_cost_usd) AS baseline_cost_usd,
                SUM(CASE WHEN c.cost_usd IS NULL AND (c.status = 'ok'
                    OR COALESCE(c.unpriced_reason, '') != '') THEN 1 ELSE 0 END)
                    AS unpriced_calls
                FROM newest s LEFT JOIN calls c ON c.session_id = s.id
                GROUP BY s.id ORDER BY s.started_at DESC""",
            (limit,),
        ).fetchall()
        return [row_to_dict(r) for r in rows]

    def reconcile(self) -> list[str]:
        """End the sessions whose launcher died without ending them; returns their ids.

        A session is dead when its process is gone, or its pid now names a process that
        started at another time (the pid was reused). Its calls still `streaming` become
        `aborted`, and it ends at its last recorded activity, as killed.
        """
        open_rows = self.conn.execute(
            "SELECT id, pid, pid_started, started_at FROM sessions "
            "WHERE ended_at IS NULL AND pid IS NOT NULL"
        ).fetchall()
        dead = [r for r in open_rows if not process_alive(r["pid"], r["pid_started"])]
        if not dead:
            return []
        now = time.time()
        with self.transaction() as conn:
            for row in dead:
                sid = row["id"]
                streaming = [
                    r["id"]
                    for r in conn.execute(
                        "SELECT id FROM calls WHERE session_id = ? AND status = 'streaming'",
                        (sid,),
                    )
                ]
                last = conn.execute(
                    "SELECT MAX(updated_at) FROM calls WHERE session_id = ?", (sid,)
                ).fetchone()[0]
                ended = max(row["started_at"], last or 0.0)
                fields = {"status": "aborted", "error": KILLED_ERROR}
                for call_id in streaming:
                    conn.execute(
                        "UPDATE calls SET status = 'aborted', error = ?, updated_at = ? "
                        "WHERE id = ?",
                        (KILLED_ERROR, now, call_id),
                    )
                    self.insert_event(sid, _FAILED_EVENT, call_id, fields, now)
                conn.execute(
                    "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? "
                    "AND ended_at IS NULL",
                    (ended, KILLED, sid),
                )
                self.insert_event(sid, _SESSION_ENDED_EVENT, None, {"end_reason": KILLED}, now)
        return [r["id"] for r in dead]

    # -- learned routing's evidence ---------------------------------------------
    def evidence(self) -> Evidence:
        """Every agent × step kind × model tally, as learned routing takes them."""
        rows = self.conn.execute(
            "SELECT agent, step, model, successes, failures, interrupted, unknown, labelled "
            "FROM learned"
        ).fetchall()
        from agentwrap.route.learn import ArmKey, Evidence, Tally

        return Evidence({ArmKey(r[0], r[1], r[2]): Tally(*r[3:]) for r in rows})

    def add_outcome(self, key: ArmKey, outcome: str | None) -> Tally:
        """Count one labelled step (read, add, write: call it inside a transaction when other
        writers may be at work, as the recorder does)."""
        return self._save_tally(key, self._tally(key).add(outcome))

    def merge_evidence(self, tallies: Iterable[tuple[ArmKey, Tally]]) -> int:
        """Add tallies to the stored ones (an import), in one transaction; returns how many."""
        count = 0
        with self.transaction():
            for key, tally in tallies:
                self._save_tally(key, self._tally(key) + tally)
                count += 1
        return count

    def reset_evidence(self) -> int:
        """Forget everything learned; returns how many tallies were dropped."""
        return self.conn.execute("DELETE FROM learned").rowcount

    def _tally(self, key: ArmKey) -> Tally:
        row = self.conn.execute(
            "SELECT successes, failures, interrupted, unknown, labelled FROM learned "
            "WHERE agent = ? AND step = ? AND model = ?",
            (key.agent, key.step, key.model),
        ).fetchone()
        from agentwrap.route.learn import Tally

        return Tally(*row) if row else Tally()

    def _save_tally(self, key: ArmKey, tally: Tally) -> Tally:
        self.conn.execute(
            "INSERT INTO learned(agent, step, model, successes, failures, interrupted, unknown, "
            "labelled, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(agent, step, model) DO UPDATE SET successes = excluded.successes, "
            "failures = excluded.failures, interrupted = excluded.interrupted, "
            "unknown = excluded.unknown, labelled = excluded.labelled, "
            "updated_at = excluded.updated_at",
            (
                key.agent,
                key.step,
                key.model,
                tally.successes,
                tally.failures,
                tally.interrupted,
                tally.unknown,
                tally.labelled,
                time.time(),
            ),
        )
        return tally

    # -- the commits sessions made ------------------------------------------------
    def add_session_commits(self, session_id: str, commits: Iterable[dict[str, Any]]) -> None:
        """Store a session's commits (sha, subject, author, committed_at, matched_by)."""
        with self.transaction() as conn:
            for c in commits:
                conn.execute(
                    "INSERT OR REPLACE INTO session_commits(session_id, sha, subject, author, "
                    "committed_at, matched_by) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        session_id,
                        c["sha"],
                        c["subject"],
                        c["author"],
                        c["committed_at"],
                        c["matched_by"],
                    ),
                )

    def session_commits(self, session_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The stored commits of these sessions, oldest first (as stored within one second),
        each with its repo_root."""
        ids = list(session_ids)
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT c.*, s.repo_root FROM session_commits c "
                f"JOIN sessions s ON s.id = c.session_id WHERE c.session_id IN ({marks}) "
                "ORDER BY c.committed_at, c.rowid",  # rowid: in the order they were stored
                chunk,
            ).fetchall()
            out.extend(dict(r) for r in rows)
        return out

    def set_commit_fates(self, fates: Iterable[tuple[str, str, str, float]]) -> None:
        """Record (session_id, sha, fate, checked_at) for stored commits."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE session_commits SET fate = ?, checked_at = ? "
                "WHERE session_id = ? AND sha = ?",
                [(fate, at, sid, sha) for sid, sha, fate, at in fates],
            )

    # -- calls ----------------------------------------------------------------
    def insert_call(self, **fields: Any) -> None:
        fields.setdefault("updated_at", fields.get("started_at", time.time()))
        self._insert("calls", CALL_COLUMNS, fields)

    def update_call(self, call_id: str, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        self._update("calls", CALL_COLUMNS, call_id, fields)

    def call(self, call_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
        return row_to_dict(row) if row else None

    def calls(
        self,
        session_id: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        columns: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Call rows in start order (`newest_first`: the other way), of one session or all,
        with every column or only `columns`."""
        sql = f"SELECT {', '.join(columns) if columns else '*'} FROM calls"
        args: list[Any] = []
        if session_id:
            sql += " WHERE session_id = ?"
            args.append(session_id)
        sql += (
            " ORDER BY started_at DESC, seq DESC" if newest_first else " ORDER BY started_at, seq"
        )
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [row_to_dict(r) for r in self.conn.execute(sql, args)]

    # -- events ---------------------------------------------------------------
    def insert_event(
        self, session_id: str, kind: str, call_id: str | None, data: dict[str, Any], ts: float
    ) -> int:
        cur = self.conn.execute(
            _INSERT_EVENT, (session_id, call_id, ts, kind, json_text(data, default=str))
        )
        return int(cur.lastrowid or 0)

    def insert_events(
        self, events: Iterable[tuple[str, str | None, float, str, dict[str, Any]]]
    ) -> None:
        """Append events, each (session id, call id, time, kind, data), in their order."""
        self.conn.executemany(
            _INSERT_EVENT,
            [
                (sid, cid, ts, kind, json_text(data, default=str))
                for sid, cid, ts, kind, data in events
            ],
        )

    def events_after(
        self, last_id: int, session_id: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM events WHERE id > ?"
        args: list[Any] = [last_id]
        if session_id:
            sql += " AND session_id = ?"
            args.append(session_id)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        out = []
        for r in self.conn.execute(sql, args):
            d = dict(r)
            d["data"] = json.loads(d["data"] or "{}")
            out.append(d)
        return out

    def prune_events(self, older_than_s: float = 7 * 86400) -> int:
        """Drop live events older than this: they serve panels following a session, and the
        calls rows keep everything worth keeping. Returns how many were dropped."""
        cur = self.conn.execute("DELETE FROM events WHERE ts < ?", (time.time() - older_than_s,))
        return cur.rowcount

    def last_event_id(self) -> int:
        row = self.conn.execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)

    # -- helpers --------------------------------------------------------------
    def _insert(self, table: str, columns: Iterable[str], fields: dict[str, Any]) -> None:
        keys = tuple(fields)
        shape = self._statements.get(("insert", table, keys))
        if shape is None:
            _check_columns(table, columns, keys)
            sql = f"INSERT INTO {table}({', '.join(keys)}) VALUES ({', '.join('?' for _ in keys)})"
            shape = self._statements["insert", table, keys] = (sql, _json_at(keys))
        self.conn.execute(shape[0], _values(fields, shape[1]))

    def _update(
        self, table: str, columns: Iterable[str], row_id: str, fields: dict[str, Any]
    ) -> None:
        if not fields:
            return
        keys = tuple(fields)
        shape = self._statements.get(("update", table, keys))
        if shape is None:
            _check_columns(table, columns, keys)
            sql = f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in keys)} WHERE id = ?"
            shape = self._statements["update", table, keys] = (sql, _json_at(keys))
        values = _values(fields, shape[1])
        values.append(row_id)
        self.conn.execute(shape[0], values)


def _json_at(keys: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, key in enumerate(keys) if key in JSON_COLUMNS)
