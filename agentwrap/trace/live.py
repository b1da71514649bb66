"""The live feed: call rows as they change, for the panel and anything else that follows a session.

Design. Inside the proxy's process the recorder calls its subscribers on the event loop
thread. Other processes — the panel in a tmux split, `agentwrap top` in another terminal —
follow the SQLite store instead: every ~150 ms they read the `events` rows with an id above
the last one seen (an indexed range scan that costs well under a millisecond) and re-read the
call rows those events touched. We chose store-following over a live endpoint under the
session secret because:

- the recorder already commits every change to WAL-mode SQLite within milliseconds, so the
  delay stays under the 250 ms budget without a second transport;
- it needs no port discovery and no secret handed to the panel;
- the same code path serves a running session, an ended one, and `--all` across sessions,
  and keeps working if the panel starts before, during or after the session.

Both feeds expose the same methods, `snapshot()` then `poll()` repeatedly from the
consumer's own thread, each returning a `LiveBatch` of call rows (last write wins), so a
consumer never deals with threads: `RecorderFeed` buffers events under a lock, and
`StoreFollower` does its reads in `poll()` itself. A store's snapshot of a session of
100,000 calls must not cost a dict of every column of every call: it gives each call's keys
only (`CallKeys`, a list per key column), and the consumer asks `call()` for a row when it
shows one; polls give whole rows. The sums over the snapshot's calls (read from the table of
sums, with the calls in flight from their rows) and its cost chart (SQLite's pass over every
row) are made by `snapshot_sums()` later, off the consumer's thread if it likes, in the
snapshot's own read transaction, so they count exactly the calls as the snapshot saw them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, Protocol

from agentwrap.trace.queries import (
    MODEL_KEY_SQL,
    STEP_KEY_SQL,
    cost_series_of,
    session_running,
    sessions_ledger,
)
from agentwrap.trace.recorder import SESSION_ENDED, STARTED, CallEvent, Recorder
from agentwrap.trace.store import TraceStore, row_to_dict
from agentwrap.trace.tally import STREAMING, Ledger, cost_series, model_key, step_key

try:
    import orjson

    _loads: Callable[[str], Any] = orjson.loads
except ImportError:  # pragma: no cover - a dependency; json reads the same arrays, slower
    _loads = json.loads

POLL_INTERVAL = 0.15
# Re-read open sessions every this many polls (about 2 s).
_SESSION_RECHECK = 13
# What a snapshot reads of every call, each column as one JSON array (SQLite builds it, orjson
# reads it: no tuple and no dict per call): what the panel filters on, and what a finished
# call's contribution to the sums can still change by (its outcome label; see Ledger.upsert).
_KEY_ARRAYS = {
    "ids": "id",
    "steps": STEP_KEY_SQL,
    "models": MODEL_KEY_SQL,
    "statuses": "status",
    "outcomes": "outcome",
}
_KEYS = ", ".join(f"{sql} AS {name}" for name, sql in _KEY_ARRAYS.items())
_ARRAYS = ", ".join(f"json_group_array({name})" for name in _KEY_ARRAYS)


@dataclass
class CallKeys:
    """Calls by their keys, one list per key column, in start order: what a consumer filters
    on (`steps` and `models` as tally.step_key and model_key count a call), and each call's
    status and outcome as a snapshot summed them. A list of strings per column instead of a
    dict per call: 100,000 calls cost five lists, and a filter is a pass over one or two."""

    ids: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    statuses: list[str | None] = field(default_factory=list)
    outcomes: list[str | None] = field(default_factory=list)
    # Position by id, made when first asked for (the first frame never needs it).
    _positions: dict[str, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, call_id: str) -> int | None:
        """Where a call is, or None for a call not held."""
        if self._positions is None:
            self._positions = {call_id: i for i, call_id in enumerate(self.ids)}
        return self._positions.get(call_id)

    def add(self, call: dict[str, Any]) -> None:
        """Hold a call's keys after the others."""
        if self._positions is not None:
            self._positions[call["id"]] = len(self.ids)
        self.ids.append(call["id"])
        self.steps.append(step_key(call))
        self.models.append(model_key(call))
        self.statuses.append(call.get("status"))
        self.outcomes.append(call.get("outcome"))

    def regroup(self, at: int, call: dict[str, Any]) -> None:
        """A held call changed: filter it by its new keys (its status and outcome stay as
        summed)."""
        self.steps[at] = step_key(call)
        self.models[at] = model_key(call)

    def as_summed(self, at: int) -> dict[str, Any]:
        """What a call's row was summed with that can change once it has finished, as
        Ledger.upsert's `previous`: a finished call changes only by its outcome label, so the
        rest (its group keys among it) is the row it became."""
        return {"status": self.statuses[at], "outcome": self.outcomes[at]}

    def matching(self, step: str | None, model: str | None) -> list[str]:
        """The ids of the calls counted under this step kind and this model (None: any)."""
        wanted: Any = None
        if step is not None:
            wanted = map(step.__eq__, self.steps)
        if model is not None:
            of_model = map(model.__eq__, self.models)
            wanted = of_model if wanted is None else map(bool.__and__, wanted, of_model)
        return list(self.ids) if wanted is None else list(compress(self.ids, wanted))


@dataclass
class SnapshotSums:
    """The sums over a snapshot's calls, and its cost chart (one series per width asked)."""

    ledger: Ledger
    series: list[list[float]]


@dataclass
class LiveBatch:
    """What changed since the previous batch: call rows and session rows.

    A store's snapshot gives `keys`: every call by its keys, in start order; the few calls
    then in flight are in `calls` too, whole. Ask the feed's `call()` for any other call's
    row, and its `snapshot_sums()` for the sums. Otherwise every row is whole.
    """

    calls: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    keys: CallKeys | None = None

    def __bool__(self) -> bool:
        return bool(self.calls or self.sessions or self.keys)


class Feed(Protocol):
    """A source of call rows for a consumer that polls from its own thread."""

    def snapshot(self) -> LiveBatch: ...

    def poll(self) -> LiveBatch: ...

    def call(self, call_id: str) -> dict[str, Any] | None:
        """One call's whole row as it is now."""
        ...

    def snapshot_sums(self, widths: Sequence[int]) -> SnapshotSums | None:
        """The sums over the calls of the last snapshot as it read them, and its cost chart
        (`widths` as for cost_series); None when that snapshot gave whole rows to sum. May
        take a while on a big session; safe to call from another thread, once."""
        ...

    def cost_series(
        self, widths: Sequence[int], start: float | None, end: float | None
    ) -> list[list[float]]:
        """Spend per time bucket over the calls followed (see tally.cost_series), one series
        per number of buckets in `widths`. Safe to call from another thread."""
        ...

    def close(self) -> None: ...


class StoreFollower:
    """Follows one session (or all sessions) by tailing the store's `events` table.

    Pass `store` for an open TraceStore; the follower reads with the store's connection and
    never writes. `include_demo` matters only when following all sessions.
    """

    def __init__(
        self,
        store: TraceStore,
        session_id: str | None,
        include_demo: bool = False,
        max_sessions: int = 20,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.include_demo = include_demo
        # Following all sessions starts from the newest few, not months of history.
        self.max_sessions = max_sessions
        self._last_event = 0
        self._sessions: dict[str, dict[str, Any]] = {}
        self._polls = 0
        # The last snapshot's connection, still in its read transaction, and its calls' WHERE,
        # until snapshot_sums() takes it (from another thread, maybe: hence the lock).
        self._snapshot_read: tuple[sqlite3.Connection, str, tuple[str, ...]] | None = None
        self._snapshot_lock = threading.Lock()

    def snapshot(self) -> LiveBatch:
        """Every call so far, as its keys; a call in flight as its whole row too. Later polls
        return only what changes after this point, and snapshot_sums() the sums."""
        self._end_snapshot_read()
        # Take the event watermark first: a change racing the read shows up again in poll().
        self._last_event = self.store.last_event_id()
        sessions = self._load_sessions()
        where, args = self._calls_where()
        # A read transaction on a connection of its own (the store's may be a writer's), held
        # until the sums are made: the keys, the rows in flight and the sums are of one moment.
        conn = sqlite3.connect(
            self.store.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("BEGIN")
            # LIMIT -1 keeps the ordered query a query of its own: each array is in its order.
            found = conn.execute(
                f"SELECT {_ARRAYS} FROM (SELECT {_KEYS} FROM calls {where} "
                "ORDER BY started_at, seq LIMIT -1)",
                args,
            ).fetchone()
            keys = CallKeys(
                **{name: _loads(text) for name, text in zip(_KEY_ARRAYS, found, strict=True)}
            )
            # The calls in flight (a few) whole: how they end may change any column.
            live = [keys.ids[i] for i, status in enumerate(keys.statuses) if status == STREAMING]
            calls: list[dict[str, Any]] = []
            for i in range(0, len(live), 500):
                chunk = live[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT * FROM calls WHERE id IN ({marks}) ORDER BY started_at, seq", chunk
                )
                calls.extend(row_to_dict(row) for row in rows)
        except BaseException:
            conn.close()
            raise
        with self._snapshot_lock:
            self._snapshot_read = (conn, where, args)
        return LiveBatch(calls=calls, sessions=sessions, keys=keys)

    def snapshot_sums(self, widths: Sequence[int]) -> SnapshotSums | None:
        """The sums over the last snapshot's calls (`sessions_ledger`: the table of sums and the
        calls in flight), and its cost chart between its first start and its last finish, in
        the snapshot's read transaction, which then ends. Safe from another thread: it touches
        only that transaction's connection."""
        read = self._take_snapshot_read()
        if read is None:
            return None
        conn, where, args = read
        try:
            ledger = sessions_ledger(conn, args)
            total = ledger.total
            series = cost_series_of(
                conn, widths, total.first_started, total.last_finished, where, args
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return SnapshotSums(ledger, series)

    def _take_snapshot_read(self) -> tuple[sqlite3.Connection, str, tuple[str, ...]] | None:
        with self._snapshot_lock:
            read, self._snapshot_read = self._snapshot_read, None
        return read

    def _end_snapshot_read(self) -> None:
        read = self._take_snapshot_read()
        if read is not None:
            read[0].close()

    def call(self, call_id: str) -> dict[str, Any] | None:
        """One call's whole row, as the store has it now."""
        return self.store.call(call_id)

    def cost_series(
        self, widths: Sequence[int], start: float | None, end: float | None
    ) -> list[list[float]]:
        """Spend per time bucket over the followed sessions' calls, summed by SQLite on a
        connection of its own (so from any thread)."""
        where, args = self._calls_where()
        conn = sqlite3.connect(self.store.path, timeout=10.0)
        try:
            return cost_series_of(conn, widths, start, end, where, args)
        finally:
            conn.close()

    def _calls_where(self) -> tuple[str, tuple[str, ...]]:
        ids = [self.session_id] if self.session_id else list(self._sessions)
        return f"WHERE session_id IN ({','.join('?' * len(ids))})", tuple(ids)

    def poll(self) -> LiveBatch:
        """Call rows touched since the last poll, and sessions that started or ended."""
        changed: dict[str, None] = {}
        session_ids: set[str] = set()
        ended_at: dict[str, float] = {}
        while True:
            events = self.store.events_after(self._last_event, self.session_id, limit=2000)
            for ev in events:
                self._last_event = ev["id"]
                if ev["call_id"]:
                    changed[ev["call_id"]] = None
                if ev["kind"] == SESSION_ENDED:
                    ended_at[ev["session_id"]] = ev["ts"]
                    session_ids.add(ev["session_id"])
                elif ev["session_id"] not in self._sessions:
                    session_ids.add(ev["session_id"])
            if len(events) < 2000:
                break
        self._polls += 1
        if self._polls % _SESSION_RECHECK == 0:
            # Sessions also end without an event (ended_at written later, launcher killed).
            session_ids.update(
                sid for sid, s in self._sessions.items() if s.get("ended_at") is None
            )
        batch = LiveBatch()
        for sid in session_ids:
            session = self.store.session(sid)
            if session is None or not self._wanted(session):
                continue
            if session.get("ended_at") is None and sid in ended_at:
                # The event can land before the launcher writes ended_at on the row.
                session["ended_at"] = ended_at[sid]
            session["running"] = session_running(session)
            if session == self._sessions.get(sid):
                continue
            self._sessions[sid] = session
            batch.sessions.append(session)
        if changed:
            batch.calls = [
                c for c in self._read_calls(list(changed)) if c["session_id"] in self._sessions
            ]
        return batch

    def close(self) -> None:
        """End a snapshot's read transaction if it is still open (the store belongs to the
        caller)."""
        self._end_snapshot_read()

    def _wanted(self, session: dict[str, Any]) -> bool:
        if self.session_id:
            return session["id"] == self.session_id
        return self.include_demo or not session.get("is_demo")

    def _load_sessions(self) -> list[dict[str, Any]]:
        if self.session_id:
            session = self.store.session(self.session_id)
            rows = [session] if session else []
        else:
            demo = "" if self.include_demo else "WHERE is_demo = 0"
            rows = [
                row_to_dict(r)
                for r in self.store.conn.execute(
                    f"SELECT * FROM sessions {demo} ORDER BY started_at DESC LIMIT ?",
                    (self.max_sessions,),
                )
            ][::-1]
        rows = [s for s in rows if self._wanted(s)]
        for s in rows:
            s["running"] = session_running(s)
        self._sessions = {s["id"]: s for s in rows}
        return rows

    def _read_calls(self, ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        # Stay well under SQLite's bound-parameter limit.
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" for _ in chunk)
            rows = self.store.conn.execute(
                f"SELECT * FROM calls WHERE id IN ({marks}) ORDER BY started_at, seq", chunk
            )
            out.extend(row_to_dict(r) for r in rows)
        return out


class RecorderFeed:
    """Follows a session inside the proxy's process through `Recorder.subscribe`.

    Subscribers run on the proxy's event loop thread; this one only merges the event's
    fields into a row under a lock, so it never slows a call. The consumer drains the
    merged rows with `poll()` from its own thread.
    """

    def __init__(self, recorder: Recorder, session: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._changed: dict[str, None] = {}
        self._session = dict(session or {"id": recorder.session_id})
        self._session.setdefault("running", self._session.get("ended_at") is None)
        self._session_changed = False
        self._unsubscribe = recorder.subscribe(self._on_event)

    def _on_event(self, ev: CallEvent) -> None:
        with self._lock:
            if ev.call_id is None:
                if ev.kind == SESSION_ENDED:
                    self._session["ended_at"] = ev.ts
                    self._session["running"] = False
                    if "exit_code" in ev.fields:
                        self._session["exit_code"] = ev.fields["exit_code"]
                    self._session_changed = True
                return
            row = self._rows.get(ev.call_id)
            if row is None or ev.kind == STARTED:
                row = {"id": ev.call_id, "session_id": ev.session_id, "attempts": []}
                self._rows[ev.call_id] = row
            row.update(ev.fields)
            row["updated_at"] = ev.ts
            self._changed[ev.call_id] = None

    def snapshot(self) -> LiveBatch:
        """Every call seen so far."""
        with self._lock:
            self._changed.clear()
            self._session_changed = False
            return LiveBatch(
                calls=[dict(r) for r in self._rows.values()], sessions=[dict(self._session)]
            )

    def poll(self) -> LiveBatch:
        """Calls changed since the last poll (copies, safe to keep)."""
        with self._lock:
            calls = [dict(self._rows[cid]) for cid in self._changed]
            self._changed.clear()
            sessions = [dict(self._session)] if self._session_changed else []
            self._session_changed = False
        return LiveBatch(calls=calls, sessions=sessions)

    def call(self, call_id: str) -> dict[str, Any] | None:
        """One call's row as its events built it (a copy)."""
        with self._lock:
            row = self._rows.get(call_id)
            return dict(row) if row is not None else None

    def snapshot_sums(self, widths: Sequence[int]) -> SnapshotSums | None:
        """None: a snapshot gives whole rows, for the consumer to sum."""
        return None

    def cost_series(
        self, widths: Sequence[int], start: float | None, end: float | None
    ) -> list[list[float]]:
        """Spend per time bucket over the calls seen so far."""
        with self._lock:
            rows = list(self._rows.values())
        return [cost_series(rows, buckets, start, end) for buckets in widths]

    def close(self) -> None:
        """Stop listening to the recorder."""
        self._unsubscribe()
