"""A session whose agentwrap was killed (`kill -9`) is reconciled when the store is next opened:
its call in flight becomes aborted, the session ends as killed, and nothing lists it as running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import httpx

from agentwrap import paths
from agentwrap.fakes.provider import FakeProvider, Reply
from agentwrap.processes import process_started
from agentwrap.trace import queries
from agentwrap.trace.recorder import FAILED, SESSION_ENDED
from agentwrap.trace.store import _FAILED_EVENT, _SESSION_ENDED_EVENT, KILLED, TraceStore
from tests.support.serve import serve, wait_for

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "count slowly"}],
}


def test_kill_9_with_a_stream_in_flight_is_reconciled_on_next_open(agentwrap_bin: str) -> None:
    slow = Reply(text=" ".join(f"w{i}" for i in range(40)), delay=0.5)
    with FakeProvider("anthropic", [slow]) as fake:
        env = {"AGENTWRAP_ANTHROPIC_UPSTREAM": fake.base_url}
        with serve(agentwrap_bin, env=env) as served:
            got_bytes = threading.Event()

            def client() -> None:
                try:
                    with httpx.stream(
                        "POST",
                        f"{served.base_url}/v1/messages",
                        json=BODY,
                        headers={"x-api-key": "dummy", "anthropic-version": "2023-06-01"},
                        timeout=30,
                    ) as resp:
                        for _ in resp.iter_bytes():
                            got_bytes.set()
                except httpx.HTTPError:
                    pass  # the proxy died under it: expected

            reader = threading.Thread(target=client, daemon=True)
            reader.start()
            assert got_bytes.wait(15), "the stream never started"
            wait_for(lambda calls: len(calls) == 1 and calls[0]["status"] == "streaming")
            served.proc.send_signal(signal.SIGKILL)
            served.proc.wait(timeout=10)
            reader.join(15)

    store = TraceStore(paths.trace_db())
    session = store.resolve_session("last")
    assert session is not None
    assert session["end_reason"] == KILLED and session["ended_at"] is not None
    assert session["exit_code"] is None
    assert not queries.session_running(session)
    (call,) = store.calls(session["id"])
    assert call["status"] == "aborted"
    assert "agentwrap was killed" in call["error"]
    kinds = [e["kind"] for e in store.events_after(0, session["id"])]
    assert kinds[-1] == SESSION_ENDED and FAILED in kinds  # live panels learn of it too
    assert store.reconcile() == []  # once only

    listed = subprocess.run(
        [agentwrap_bin, "sessions", "--json"], capture_output=True, text=True, check=True
    )
    (row,) = json.loads(listed.stdout)
    assert row["end_reason"] == KILLED and row["ended_at"] is not None
    table = subprocess.run(
        [agentwrap_bin, "sessions"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert "killed" in table.stdout and "running" not in table.stdout


def test_a_reused_pid_does_not_keep_a_dead_session_running() -> None:
    store = TraceStore(paths.trace_db())
    now = time.time()
    base = {"agent": "claude", "argv": [], "started_at": now, "pid": os.getpid()}
    store.insert_session(id="alive", pid_started=process_started(os.getpid()), **base)
    # Our pid, but recorded with another start time: the launcher died and its pid was reused.
    store.insert_session(id="reused", pid_started="1", **base)
    store.insert_call(
        id="c1", session_id="reused", seq=1, started_at=now, surface="anthropic",
        endpoint="messages", status="streaming",
    )  # fmt: skip
    store.insert_call(
        id="c2", session_id="reused", seq=2, started_at=now, surface="anthropic",
        endpoint="messages", status="ok",
    )  # fmt: skip
    assert store.reconcile() == ["reused"]
    assert store.session("alive")["ended_at"] is None
    assert queries.session_running(store.session("alive"))
    assert store.session("reused")["end_reason"] == KILLED
    assert store.call("c1")["status"] == "aborted"
    assert store.call("c2")["status"] == "ok"  # a finished call keeps its record


def test_a_session_without_a_pid_is_left_alone() -> None:
    store = TraceStore(paths.trace_db())
    store.insert_session(id="imported", agent="claude", argv=[], started_at=time.time())
    assert TraceStore(paths.trace_db()).reconcile() == []
    assert store.session("imported")["ended_at"] is None


def test_reconciliation_writes_the_recorders_event_kinds() -> None:
    assert (_FAILED_EVENT, _SESSION_ENDED_EVENT) == (FAILED, SESSION_ENDED)
