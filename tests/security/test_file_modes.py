"""The config and data directories are the user's alone (0700), the trace and its WAL and
shared-memory files too (0600), whatever the umask: set at creation, fixed when opened."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from agentwrap import paths
from agentwrap.fakes.provider import FakeProvider
from agentwrap.trace.store import TraceStore
from tests.support.serve import serve, stop

BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "x"}],
}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def store_files() -> list[Path]:
    db = paths.trace_db()
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def test_a_session_under_umask_022_leaves_only_private_files(agentwrap_bin: str) -> None:
    paths.config_dir().mkdir(parents=True)
    paths.config_file().write_text("[routing]\ndefault = 'requested'\n")
    with FakeProvider("anthropic", ["hello"]) as fake:
        env = {"AGENTWRAP_ANTHROPIC_UPSTREAM": fake.base_url}
        with serve(agentwrap_bin, env=env, umask=0o022) as served:
            answer = httpx.post(
                f"{served.base_url}/v1/messages",
                json=BODY,
                headers={"x-api-key": "dummy", "anthropic-version": "2023-06-01"},
                timeout=30,
            )
            assert answer.status_code == 200
            # While the session runs, the WAL and shared memory exist beside the store.
            for path in store_files():
                assert path.exists() and mode(path) == 0o600, path
            stop(served)
    assert mode(paths.data_dir()) == 0o700
    assert mode(paths.config_dir()) == 0o700  # made by the user, tightened by the session
    for path in paths.data_dir().rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, path


def test_opening_the_store_fixes_files_made_before(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        data = paths.data_dir()
        data.mkdir(parents=True)
        os.chmod(data, 0o755)
        store = TraceStore(paths.trace_db())
        store.close()
        for path in store_files():
            if path.exists():
                os.chmod(path, 0o644)
        os.chmod(data, 0o755)
        TraceStore(paths.trace_db()).close()
    finally:
        os.umask(old_umask)
    assert mode(data) == 0o700
    for path in store_files():
        if path.exists():
            assert mode(path) == 0o600, path


def test_a_new_store_is_private_from_its_first_byte(tmp_path: Path) -> None:
    # Even a umask that would hide nothing: the modes are set, not left to the umask.
    target = tmp_path / "fresh" / "trace.db"
    code = (
        "import os, sys; os.umask(0); "
        "from pathlib import Path; from agentwrap.trace.store import TraceStore; "
        "TraceStore(Path(sys.argv[1])).close()"
    )
    subprocess.run([sys.executable, "-c", code, str(target)], check=True)
    assert mode(target.parent) == 0o700
    assert mode(target) == 0o600
