"""The recorder: the proxy's one way to report calls.

Every report is published at once to in-process subscribers (the panel inside a session,
the statusline) and queued for a writer thread that persists it to the trace store, so the
event loop never waits on SQLite. Other processes (a panel in another terminal) tail the
store's `events` table. `close()` drains the queue: no record is lost at shutdown.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentwrap.route.learn import ArmKey
from agentwrap.trace.record import CALL_COLUMNS
from agentwrap.trace.store import TraceStore

log = logging.getLogger(__name__)

BATCH_WINDOW_S = 0.05

# Event kinds, in the order a call may emit them.
STARTED = "started"
# The answering target's columns; the proxy reports them with FIRST_BYTE when it follows at once.
ROUTED = "routed"
FALLBACK = "fallback"
FIRST_BYTE = "first_byte"
FINISHED = "finished"
FAILED = "failed"
OUTCOME = "outcome"  # a later call revealed how this step's tool calls went
SESSION_ENDED = "session_ended"
# A call's request body and answer bytes, for an exporter the user let capture content:
# published to content subscribers only, never stored.
CONTENT = "content"


@dataclass
class CallEvent:
    kind: str
    session_id: str
    call_id: str | None
    ts: float
    fields: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[CallEvent], None]


class Recorder:
    """Publishes call events and persists them through one writer thread."""

    def __init__(self, store: TraceStore, session_id: str) -> None:
        self.store = store
        self.session_id = session_id
        # The triggers keeping call_sums make each write keep a statement journal: in memory
        # it costs a few microseconds a write, in a temporary file about ten more.
        store.conn.execute("PRAGMA temp_store = MEMORY")
        self._subscribers: list[Subscriber] = []
        self._content_subscribers: list[Subscriber] = []
        # A put wakes the writer only when it waits for a burst's first report; the rest are an
        # append each (queue.Queue's lock and condition cost about 1.6 µs a report more).
        self._queue: queue.SimpleQueue[tuple[str, tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._urgent = threading.Event()  # a flush or close waits: write what is queued now
        self._thread = threading.Thread(target=self._run, name="agentwrap-trace", daemon=True)
        self._closed = False
        self._seq = 0
        self._thread.start()

    # -- publishing -----------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def subscribe_content(self, fn: Subscriber) -> Callable[[], None]:
        """Receive each call's request body and answer (CONTENT events); never stored."""
        self._content_subscribers.append(fn)
        return lambda: (
            self._content_subscribers.remove(fn) if fn in self._content_subscribers else None
        )

    @property
    def wants_content(self) -> bool:
        """Whether anyone asked for message content (the proxy keeps answers only then)."""
        return bool(self._content_subscribers)

    def call_content(self, call_id: str, **fields: Any) -> None:
        """A call's content, to content subscribers only."""
        ev = CallEvent(CONTENT, self.session_id, call_id, time.time(), fields)
        for fn in list(self._content_subscribers):
            try:
                fn(ev)
            except Exception:  # an exporter must never break a call
                log.exception("content subscriber failed")

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def call_started(self, call_id: str, **fields: Any) -> None:
        """A new call: inserts its row (status 'streaming' until finished)."""
        now = fields.setdefault("started_at", time.time())
        fields.setdefault("status", "streaming")
        self._emit(CallEvent(STARTED, self.session_id, call_id, now, fields), insert=True)

    def call_event(self, kind: str, call_id: str, **fields: Any) -> None:
        """A change to a call: updates its row with `fields` and logs the event."""
        self._emit(CallEvent(kind, self.session_id, call_id, time.time(), fields), insert=False)

    def learned(self, key: ArmKey, outcome: str) -> None:
        """A step of `key` was labelled: count it in learned routing's evidence."""
        self._put("learn", (key, outcome))

    def session_event(self, kind: str, **fields: Any) -> None:
        ev = CallEvent(kind, self.session_id, None, time.time(), fields)
        self._publish(ev)
        self._put("event", (ev,))

    def _emit(self, ev: CallEvent, insert: bool) -> None:
        self._publish(ev)
        self._put("insert" if insert else "update", (ev,))

    def _publish(self, ev: CallEvent) -> None:
        for fn in list(self._subscribers):
            try:
                fn(ev)
            except Exception:  # a broken panel must never break a call
                log.exception("trace subscriber failed")

    def _put(self, op: str, args: tuple[Any, ...]) -> None:
        if self._closed:
            # Late reports (after close) are written synchronously rather than lost.
            self._apply(op, args)
            return
        self._queue.put((op, args))

    # -- writer thread --------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is not None and item[0] != "barrier":
                # Let the rest of the burst arrive before writing: one commit per burst instead
                # of three per call, and reports queued meanwhile wake nobody (a woken writer
                # cost the event loop a thread switch per report). A flush or close cuts it short.
                self._urgent.wait(BATCH_WINDOW_S)
            self._urgent.clear()
            batch: list[tuple[str, tuple[Any, ...]]] = []
            while item is not None:
                batch.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if item is None:
                return

    def _write(self, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        barriers = [args[0] for op, args in batch if op == "barrier"]
        batch = [item for item in batch if item[0] != "barrier"]
        try:
            with self.store.transaction():
                self._write_folded(batch)
        except Exception:
            log.exception("trace write failed; retrying one by one")
            for op, args in batch:
                try:
                    self._apply(op, args)
                except Exception:
                    log.exception("trace record lost: %s", op)
        for barrier in barriers:
            barrier.set()

    def _write_folded(self, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Write a batch's reports in few statements: each call's reports folded into one write
        of its row (its insert, or one update) and the batch's events in one statement, in the
        reports' order. The batch is one transaction: no reader sees the steps between."""
        rows: dict[str, tuple[bool, dict[str, Any]]] = {}  # call id → (inserted?, its columns)
        events: list[tuple[str, str | None, float, str, dict[str, Any]]] = []
        now = time.time()
        for op, args in batch:
            if op == "learn":
                self.store.add_outcome(*args)
                continue
            (ev,) = args
            if op == "insert":
                columns = {"id": ev.call_id, "session_id": ev.session_id, **ev.fields}
                rows[str(ev.call_id)] = (True, columns)
            elif op == "update":
                # Event-only fields (a fallback's attempt number) have no column in the row.
                row = {k: v for k, v in ev.fields.items() if k in _COLUMNS}
                folded = rows.get(str(ev.call_id))
                if folded is None:
                    if row:
                        rows[str(ev.call_id)] = (False, row)
                elif row:
                    folded[1].update(row)
                    if folded[0]:
                        folded[1]["updated_at"] = now  # as the update would have stamped it
            events.append((ev.session_id, ev.call_id, ev.ts, ev.kind, _event_data(ev.fields)))
        for call_id, (inserted, columns) in rows.items():
            if inserted:
                self.store.insert_call(**columns)
            else:
                self.store.update_call(call_id, **columns)
        self.store.insert_events(events)

    def _apply(self, op: str, args: tuple[Any, ...]) -> None:
        if op == "learn":
            self.store.add_outcome(*args)
            return
        (ev,) = args
        data = _event_data(ev.fields)
        if op == "insert":
            self.store.insert_call(id=ev.call_id, session_id=ev.session_id, **ev.fields)
        elif op == "update" and ev.fields:
            # Event-only fields (a fallback's attempt number) have no column in the row.
            row = {k: v for k, v in ev.fields.items() if k in _COLUMNS}
            if row:
                self.store.update_call(ev.call_id, **row)
        self.store.insert_event(ev.session_id, ev.kind, ev.call_id, data, ev.ts)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written."""
        if self._closed:
            return  # close() wrote it all; no writer is left to pass a barrier
        done = threading.Event()
        self._queue.put(("barrier", (done,)))
        self._urgent.set()
        done.wait(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._queue.put(None)
        self._urgent.set()
        self._thread.join(timeout=30)
        self._closed = True


# Small fields worth carrying in the events table (the row holds the rest).
_EVENT_DATA_KEYS = {
    "status",
    "http_status",
    "model",
    "requested_model",
    "provider",
    "step",
    "reason",
    "error",
    "cost_usd",
    "ttfb_ms",
    "total_ms",
    "attempt",
    "outcome",
    "signals",
    "outcome_evidence",
}
_COLUMNS = frozenset(CALL_COLUMNS)


def _event_data(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of a report the events table carries."""
    return {k: v for k, v in fields.items() if k in _EVENT_DATA_KEYS}
