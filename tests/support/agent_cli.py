"""The pinned agent CLIs of tests/e2e/agents: find one, installing them all once if needed.

Every agent CLI the end-to-end tests drive is pinned in tests/e2e/agents/package.json and
installed by `./install.sh --dev` (npm install in that folder). `pinned_binary` finds one
and, on a fresh machine, runs that `npm install` once per process, under a file lock shared
by every agent so parallel test workers never install twice.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support.claude_env import AGENTS_DIR

__all__ = ["agentwrap_exe", "calls_of", "pinned_binary", "posts", "require_pinned", "sessions"]

_install_failed: list[str] = []  # the reason, once an install was tried and failed


def _works(binary: Path, version: str) -> bool:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and version in out.stdout


def pinned_binary(
    name: str, version: str, label: str, install: bool = True
) -> tuple[Path | None, str]:
    """node_modules/.bin/`name` reporting `version`, and "" — or None and why it is missing."""
    binary = AGENTS_DIR / "node_modules" / ".bin" / name
    if binary.exists() and _works(binary, version):
        return binary, ""
    if not install:
        return None, f"{label} is not installed in {AGENTS_DIR} (run ./install.sh --dev)"
    if _install_failed:
        return None, _install_failed[0]
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm is not on PATH, so {label} cannot be installed"
    # The lock lives outside the checkout so it never shows up in git status.
    with open(Path(tempfile.gettempdir()) / "agentwrap-test-agents-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (binary.exists() and _works(binary, version)):
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=AGENTS_DIR,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                _install_failed.append(
                    "npm install in tests/e2e/agents failed: " + " | ".join(tail)
                )
                return None, _install_failed[0]
    if binary.exists() and _works(binary, version):
        return binary, ""
    return None, f"npm install ran but {binary} does not report {version}"


def require_pinned(name: str, version: str, label: str) -> Path:
    """The pinned binary, or skip the calling test with the reason."""
    import pytest

    binary, reason = pinned_binary(name, version, label)
    if binary is None:
        pytest.skip(reason)
    return binary


def agentwrap_exe() -> str:
    """The `agentwrap` entry point of the running interpreter's environment."""
    return str(Path(sys.executable).parent / "agentwrap")


def sessions() -> list[dict[str, Any]]:
    """The sessions recorded in this test's trace store (newest first), [] when none."""
    from agentwrap import paths
    from agentwrap.trace.store import TraceStore

    if not paths.trace_db().exists():
        return []
    store = TraceStore(paths.trace_db())
    try:
        return store.sessions(100)
    finally:
        store.close()


def calls_of(session_id: str) -> list[dict[str, Any]]:
    """The calls recorded for one session, in order."""
    from agentwrap import paths
    from agentwrap.trace.store import TraceStore

    store = TraceStore(paths.trace_db())
    try:
        return store.calls(session_id)
    finally:
        store.close()


def posts(fake: Any) -> list[Any]:
    """The POST requests a FakeProvider received (agents also send HEAD/GET probes)."""
    return [r for r in fake.requests if r.method == "POST"]
