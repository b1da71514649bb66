"""`agentwrap serve` as a real subprocess that a test may also kill, and waiting on the trace."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.trace.store import TraceStore


@dataclass
class Served:
    """A running `agentwrap serve`: its process and base URL."""

    proc: subprocess.Popen[str]
    base_url: str

    @property
    def origin(self) -> str:
        """http://127.0.0.1:<port>, without the session path."""
        return self.base_url.split("/s/", 1)[0]

    @property
    def secret(self) -> str:
        return self.base_url.split("/s/", 1)[1]


@contextmanager
def serve(
    agentwrap_bin: str,
    *args: str,
    env: dict[str, str] | None = None,
    umask: int | None = None,
    cwd: Path | None = None,
) -> Iterator[Served]:
    """Start `agentwrap serve ARGS` (in `cwd`: where it discovers a repository's profile);
    yield it; stop it with SIGTERM unless the test ended it.

    stderr goes to a pipe the test may read once the process ended (`stop` returns it).
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [agentwrap_bin, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        text=True,
        umask=-1 if umask is None else umask,
        cwd=cwd,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"agentwrap serve did not print its URL: {line!r} {err}")
        yield Served(proc, line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop(served: Served) -> str:
    """SIGTERM, wait, and return everything it wrote to stderr."""
    served.proc.send_signal(signal.SIGTERM)
    _, err = served.proc.communicate(timeout=20)
    return err


def wait_for(predicate: object, timeout: float = 10.0, db: Path | None = None) -> list[dict]:
    """The newest session's calls once `predicate(calls)` holds (in `db`, else this test's
    trace)."""
    db = db or paths.trace_db()
    deadline = time.monotonic() + timeout
    calls: list[dict] = []
    while time.monotonic() < deadline:
        if db.exists():
            store = TraceStore(db)
            try:
                session = store.resolve_session("last")
                calls = store.calls(session["id"]) if session else []
            finally:
                store.close()
            if predicate(calls):  # type: ignore[operator]
                return calls
        time.sleep(0.05)
    raise AssertionError(f"the trace never reached the expected state: {calls}")
