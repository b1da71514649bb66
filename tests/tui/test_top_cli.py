"""`agentwrap top` in a real terminal (tmux): it follows a session another process writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from agentwrap.trace.recorder import Recorder
from agentwrap.tui.app import size_from_terminal
from tests.support.trace_seed import SESSION_CALLS, SeedCall, finish_call, seed_session, start_call

NEEDS_TMUX = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def tmux(tmp_path) -> Iterator[tuple[str, list[str]]]:
    """A private tmux server (its own socket) and the base command to talk to it."""
    base = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    name = f"top-{uuid.uuid4().hex[:6]}"
    yield name, base
    subprocess.run([*base, "kill-server"], capture_output=True)


def screen(base: list[str], name: str) -> str:
    return subprocess.run(
        [*base, "capture-pane", "-p", "-t", name], capture_output=True, text=True
    ).stdout


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def start_top(base: list[str], name: str, agentwrap_bin: str, *args: str) -> None:
    # A size inherited from the environment (a parent shell's, the pane's window's) is wrong
    # for an 80x24 pane: the panel must take its size from the terminal.
    env = f"TZ=UTC COLUMNS=200 LINES=50 AGENTWRAP_HOME={os.environ['AGENTWRAP_HOME']}"
    command = f"env {env} {agentwrap_bin} top {' '.join(args)}; echo TOP-EXITED $?; sleep 30"
    subprocess.run(
        [*base, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command], check=True
    )


@pytest.mark.tmux
@NEEDS_TMUX
def test_top_follows_a_live_session_and_quits_on_q(tmux, agentwrap_bin: str) -> None:
    name, base = tmux
    store = seed_session(calls=SESSION_CALLS[:3], ended=False, pid=os.getpid())
    # No SESSION argument: the newest running session.
    start_top(base, name, agentwrap_bin)
    assert wait_for(lambda: "10:00:16  explore" in screen(base, name)), screen(base, name)
    text = screen(base, name)
    assert "sess-0001" in text and "● running" in text and "3 calls" in text

    rec = Recorder(store, "sess-0001")
    late = SeedCall(
        "late-1", "implement", "claude-opus-4-1", "claude-sonnet-4-5", 10, 10, cost=0.02, offset=50
    )
    start_call(rec, late, 4)
    rec.flush()
    assert wait_for(lambda: "… waiting" in screen(base, name)), screen(base, name)
    finish_call(rec, late)
    rec.session_event("session_ended", exit_code=0)
    rec.close()
    assert wait_for(lambda: "■ ended" in screen(base, name) and "4 calls" in screen(base, name))
    assert "10:00:50  implement" in screen(base, name)

    subprocess.run([*base, "send-keys", "-t", name, "q"], check=True)
    assert wait_for(lambda: "TOP-EXITED 0" in screen(base, name)), screen(base, name)


def test_top_with_an_unknown_session_says_so(agentwrap_bin: str) -> None:
    seed_session()
    out = subprocess.run([agentwrap_bin, "top", "nope"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "no session matches 'nope'" in out.stderr


def test_on_a_terminal_inherited_columns_and_lines_are_dropped() -> None:
    env = {"COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    size_from_terminal(env, on_terminal=False)
    assert env["COLUMNS"] == "200" and env["LINES"] == "50"  # a pipe: they say what to assume
    size_from_terminal(env, on_terminal=True)
    assert env == {"TERM": "xterm-256color"}
