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
only (`KEY_COLUMNS`) with the sums SQLite made over them in the same read, and the consumer
asks `call()` for a row when it shows one; polls give whole rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentwrap.trace.queries import cost_series_of, session_running, summed_ledger
from agentwrap.trace.recorder import SESSION_ENDED, STARTED, CallEvent, Recorder
from agentwrap.trace.store import TraceStore, row_to_dict
from agentwrap.trace.tally import STREAMING, Ledger, cost_series

POLL_INTERVAL = 0.15
# Re-read open sessions every this many polls (about 2 s).
_SESSION_RECHECK = 13
# What a snapshot reads of every call: what the panel filters on, and what a finished call's
# contribution to the sums can still change by (its outcome label; see Ledger.upsert).
KEY_COLUMNS = ("id", "session_id", "step", "model", "requested_model", "status", "outcome")


@dataclass
class LiveBatch:
    """What changed since the previous batch: call rows and session rows.

    A snapshot may give `ledger`, the sums over its calls; its calls are then the rows as
    summed, and those listed in `partial` hold only `KEY_COLUMNS` (ask the feed's `call()`
    for the rest). Otherwise every row is whole.
    """

    calls: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    ledger: Ledger | None = None
    partial: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.calls or self.sessions)


class Feed(Protocol):
    """A source of call rows for a consumer that polls from its own thread."""

    def snapshot(self) -> LiveBatch: ...

    def poll(self) -> LiveBatch: ...

    def call(self, call_id: str) -> dict[str, Any] | None:
        """One call's whole row as it is now."""
        ...

    def cost_series(
        self, widths: Sequence[int], start: float | None, end: float | None
    ) -> list[list[float]]:
        """Spend per time bucket over the calls followed (see tally.cost_series), one series
        per number of buckets in `widths`."""
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

    def snapshot(self) -> LiveBatch:
        """Every call so far, as its keys, and their sums; a call in flight as its whole row.
        Later polls return only what changes after this point."""
        # Take the event watermark first: a change racing the read shows up again in poll().
        self._last_event = self.store.last_event_id()
        sessions = self._load_sessions()
        where, args = self._calls_where()
        # One read transaction on a connection of its own (the store's may be a writer's): the
        # sums, the keys and the rows in flight are of the same moment.
        conn = sqlite3.connect(self.store.path, timeout=10.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("BEGIN")
            ledger = summed_ledger(conn, where, args)
            cursor = conn.execute(
                f"SELECT {', '.join(KEY_COLUMNS)} FROM calls {where} ORDER BY started_at, seq",
                args,
            )
            cursor.row_factory = None
            calls = [dict(zip(KEY_COLUMNS, row, strict=True)) for row in cursor]
            # The calls in flight (a few) whole: how they end may change any column.
            whole: dict[int, dict[str, Any]] = {}
            for i, call in enumerate(calls):
                if call["status"] == STREAMING:
                    found = conn.execute("SELECT * FROM calls WHERE id = ?", (call["id"],))
                    whole[i] = row_to_dict(found.fetchone())
            conn.execute("COMMIT")
        finally:
            conn.close()
        partial = {call["id"] for call in calls}
        for i, row in whole.items():
            calls[i] = row
            partial.discard(row["id"])
        return LiveBatch(calls=calls, sessions=sessions, ledger=ledger, partial=partial)

    def call(self, call_id: str) -> dict[str, Any] | None:
        """One call's whole row, as the store has it now."""
        return self.store.call(call_id)

    def cost_series(
        self, widths: Sequence[int], start: float | None, end: float | None
    ) -> list[list[float]]:
        """Spend per time bucket over the followed sessions' calls, summed by SQLite."""
        where, args = self._calls_where()
        return cost_series_of(self.store, widths, start, end, where, args)

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
        """Nothing to release: the store belongs to the caller."""

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
