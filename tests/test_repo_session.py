"""A real session's end stores the commits made in its repository while it ran."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agentwrap import paths
from agentwrap.trace.store import TraceStore
from tests.test_repo import ME, git


def test_agentwrap_run_stores_the_commits_its_command_made(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", ME)
    git(root, "config", "user.name", "Dev")
    (root / "a.txt").write_text("before\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "before the session", at=1_700_000_000)
    # The command commits twice as the repository's author, as an agent does.
    script = (
        "import subprocess\n"
        "for n in ('one', 'two'):\n"
        "    open(n + '.txt', 'w').write(n)\n"
        "    subprocess.run(['git', 'add', n + '.txt'], check=True)\n"
        "    subprocess.run(['git', 'commit', '-q', '-m', 'add ' + n], check=True)\n"
    )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": ME,
        "GIT_COMMITTER_EMAIL": ME,
    }
    exe = str(Path(sys.executable).parent / "agentwrap")
    done = subprocess.run(
        [exe, "run", "--quiet", "--", sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    store = TraceStore(paths.trace_db())
    try:
        session = store.resolve_session("last")
        assert session is not None and session["repo_root"] == str(root)
        commits = store.session_commits([session["id"]])
    finally:
        store.close()
    assert [c["subject"] for c in commits] == ["add one", "add two"]
    assert all(c["matched_by"] == "time and author" and c["fate"] is None for c in commits)
