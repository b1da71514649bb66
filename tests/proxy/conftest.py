"""Fixtures for driving `agentwrap serve` as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.trace.store import TraceStore


@contextmanager
def running_serve(
    agentwrap_bin: str, upstream: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start `agentwrap serve` against `upstream`; yield its base URL; stop it with SIGTERM."""
    full_env = dict(os.environ)
    full_env["AGENTWRAP_ANTHROPIC_UPSTREAM"] = upstream
    full_env.update(env or {})
    proc = subprocess.Popen(
        [agentwrap_bin, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"agentwrap serve did not print its URL: {line!r} {err}")
        yield line
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_calls(count: int, *, done: bool = True, timeout: float = 10.0) -> list[dict]:
    """The calls of the newest session, once `count` exist (and are finished, if `done`)."""
    deadline = time.monotonic() + timeout
    calls: list[dict] = []
    while time.monotonic() < deadline:
        if Path(paths.trace_db()).exists():
            store = TraceStore(paths.trace_db())
            try:
                sess = store.resolve_session("last")
                calls = store.calls(sess["id"]) if sess else []
            finally:
                store.close()
            if len(calls) >= count and (not done or all(c["status"] != "streaming" for c in calls)):
                return calls
        time.sleep(0.05)
    raise AssertionError(f"expected {count} recorded calls, have {calls}")
