"""A big store from before the table of sums says, once, that its sums are being built.

Building them takes about 4 s a million calls, once, on the first open after an upgrade. The
command that opens the store says so on stderr before it starts (its stdout, JSON a script may
read, is left whole); `agentwrap <agent>` says it before the agent starts, while the terminal
is still agentwrap's; a store opened without a notice (the session's other threads, the live
export's) says nothing. The stores are made as an earlier version left them
(tests/support/old_store.py) and migrated by the real code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.trace.store import ANNOUNCED_BUILD, TraceStore
from tests.conftest import subprocess_env
from tests.support.old_store import add_finished_calls, store_before_sums

BIG = ANNOUNCED_BUILD + 1
SAID = f"building the table of sums for {BIG:,} calls (once, after an upgrade)…"


@pytest.fixture(scope="module")
def big_old_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the schema before call_sums holding one session of BIG answered calls."""
    path = tmp_path_factory.mktemp("before-sums") / "trace.db"
    store_before_sums(path)
    add_finished_calls(path, "s-old", BIG)
    return path


def _copy(store: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store, to)
    return to


def _summed_calls(store: TraceStore) -> int:
    return int(store.conn.execute("SELECT TOTAL(calls) FROM call_sums").fetchone()[0])


def test_a_big_store_says_once_that_it_builds_its_sums(big_old_store: Path, tmp_path: Path) -> None:
    path = _copy(big_old_store, tmp_path / "trace.db")
    said: list[str] = []
    store = TraceStore(path, notice=said.append)
    assert said == [SAID]
    assert _summed_calls(store) == BIG
    store.close()
    again = TraceStore(path, notice=said.append)  # built already: nothing to say
    assert said == [SAID]
    again.close()


def test_a_small_store_a_new_one_and_a_store_without_a_notice_say_nothing(
    big_old_store: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    said: list[str] = []
    small = tmp_path / "small" / "trace.db"
    small.parent.mkdir()
    store_before_sums(small)
    add_finished_calls(small, "s-small", ANNOUNCED_BUILD)  # not more than it: a quick build
    store = TraceStore(small, notice=said.append)
    assert _summed_calls(store) == ANNOUNCED_BUILD
    store.close()
    TraceStore(tmp_path / "new" / "trace.db", notice=said.append).close()
    assert said == []
    # Without a notice the store writes nothing anywhere, however long the build.
    store = TraceStore(_copy(big_old_store, tmp_path / "quiet" / "trace.db"))
    assert _summed_calls(store) == BIG
    store.close()
    assert capfd.readouterr() == ("", "")


def _calls_in(command: str, stdout: str) -> int:
    """How many calls a command's JSON counts (`log`: a JSON object per line, one per call)."""
    if command == "log":
        return len([json.loads(line) for line in stdout.splitlines()])
    out = json.loads(stdout)
    return int(out[0]["calls"] if command == "sessions" else out["totals"]["calls"])


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--json"],
        ["report", "--json", "--", "model"],  # read by typer
        ["sessions", "--json"],
        ["log", "--json", "-n", "2"],
    ],
    ids=" ".join,
)
def test_a_command_says_it_on_stderr_and_leaves_its_json_whole(
    args: list[str], big_old_store: Path, agentwrap_bin: str
) -> None:
    _copy(big_old_store, paths.trace_db())
    first = subprocess.run(
        [agentwrap_bin, *args], env=subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert first.stderr == f"agentwrap: {SAID}\n"
    assert _calls_in(args[0], first.stdout) == (2 if args[0] == "log" else BIG)
    again = subprocess.run(
        [agentwrap_bin, *args], env=subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout == first.stdout


def test_a_launch_says_it_before_the_agent_starts(
    big_old_store: Path, agentwrap_bin: str, tmp_path: Path
) -> None:
    _copy(big_old_store, paths.trace_db())
    agent = tmp_path / "agent"
    agent.write_text("#!/bin/sh\necho 'the agent started' >&2\nexit 0\n")
    agent.chmod(0o755)
    done = subprocess.run(
        [agentwrap_bin, "claude", "--quiet", "--panel", "off"],
        env=subprocess_env(AGENTWRAP_CLAUDE_BIN=str(agent)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[:2] == [f"agentwrap: {SAID}", "the agent started"]
    assert done.stdout == ""
