"""A session's proxy loads while the agent starts: calls made meanwhile wait for it, a session
closed before it has loaded never serves, and one that cannot start says why."""

from __future__ import annotations

import http.client
import socket
import threading
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.route.profile import load_profile
from agentwrap.session import Session, SessionOptions
from agentwrap.trace.store import TraceStore


def _session() -> Session:
    profile = load_profile(explicit="passthrough", env={})
    return Session(SessionOptions(agent="test", profile=profile, env={}), ["test"])


def _health(session: Session) -> http.client.HTTPConnection:
    """A health request sent to the session's base URL (its answer not read yet)."""
    conn = http.client.HTTPConnection("127.0.0.1", session.port, timeout=30)
    conn.request("GET", f"/s/{session.secret}/_agentwrap/health")
    return conn


def test_a_call_made_before_the_proxy_loads_is_answered_once_it_has(agentwrap_home: Path) -> None:
    session = _session()
    conn = _health(session)  # waits in the socket's backlog
    failed = threading.Event()
    loading = session.start_in_background(failed.set)
    try:
        assert conn.getresponse().status == 200
        loading.join(30)
        assert session.start_failure is None and not failed.is_set()
    finally:
        conn.close()
        session.close(0)
    ended = TraceStore(paths.trace_db()).session(session.id)
    assert ended is not None and ended["exit_code"] == 0


def test_a_session_closed_before_its_proxy_loads_never_serves(agentwrap_home: Path) -> None:
    session = _session()
    session.close(0)  # the agent exited at once
    assert session.start() == session.base_url
    assert session.runner is None and session.proxy is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", session.port), 2):
        pass
    ended = TraceStore(paths.trace_db()).session(session.id)
    assert ended is not None and ended["ended_at"] is not None


def test_a_proxy_that_cannot_start_says_why_and_takes_the_session_back(
    agentwrap_home: Path,
) -> None:
    session = _session()
    session.listener.close()  # nothing to serve on
    failed = threading.Event()
    session.start_in_background(failed.set).join(30)
    assert failed.is_set()
    assert isinstance(session.start_failure, RuntimeError)
    assert "the proxy could not start" in str(session.start_failure)
    session.close(None)
    assert TraceStore(paths.trace_db()).session(session.id) is None
