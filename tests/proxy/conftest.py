"""Fixtures for driving `agentwrap serve` as a real subprocess."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic
from agentwrap.fakes.provider import Script
from tests.conftest import isolate
from tests.support.serve import serve, wait_for

ANTHROPIC_UPSTREAM = "AGENTWRAP_ANTHROPIC_UPSTREAM"


@contextmanager
def running_serve(
    agentwrap_bin: str, upstream: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start `agentwrap serve` against `upstream`; yield its base URL; stop it with SIGTERM."""
    with serve(agentwrap_bin, *args, env={ANTHROPIC_UPSTREAM: upstream, **(env or {})}) as served:
        yield served.base_url


def _arrived(count: int, done: bool) -> Callable[[list[dict]], bool]:
    def arrived(calls: list[dict]) -> bool:
        return len(calls) >= count and (not done or all(c["status"] != "streaming" for c in calls))

    return arrived


def wait_calls(count: int, *, done: bool = True, timeout: float = 10.0) -> list[dict]:
    """The calls of the newest session, once `count` exist (and are finished, if `done`)."""
    return wait_for(_arrived(count, done), timeout)


@dataclass
class SharedServe:
    """One `agentwrap serve` (default profile and flags) in front of one FakeAnthropic, shared
    by a module's tests that need no fresh proxy; `play` starts each test's part of it."""

    fake: FakeAnthropic
    url: str
    db: Path
    since: float = 0.0

    def play(self, script: Script) -> SharedServe:
        """Answer from `script` from now on, forget what the fake received, and count only the
        calls that arrive from now on."""
        self.fake.rescript(script)
        self.fake.requests.clear()
        self.since = time.time()
        return self

    def calls(self, count: int, *, done: bool = True, timeout: float = 10.0) -> list[dict]:
        """This test's calls, once `count` exist (and are finished, if `done`)."""
        arrived = _arrived(count, done)
        calls = wait_for(lambda calls: arrived(self._mine(calls)), timeout=timeout, db=self.db)
        return self._mine(calls)

    def _mine(self, calls: list[dict]) -> list[dict]:
        # A call an earlier test made may be written after this test began, never begun after.
        return [c for c in calls if c["started_at"] >= self.since]


@pytest.fixture(scope="module")
def shared_serve(
    agentwrap_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedServe]:
    """A module's one `agentwrap serve` with its own AGENTWRAP_HOME (see SharedServe)."""
    with FakeAnthropic() as fake, pytest.MonkeyPatch.context() as env:
        isolate(env, tmp_path_factory.mktemp("shared-serve"))
        db = paths.trace_db()
        with running_serve(agentwrap_bin, fake.base_url) as url:
            env.undo()  # the process has its environment; each test gets its own again
            yield SharedServe(fake, url, db)
