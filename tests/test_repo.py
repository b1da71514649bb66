"""Session outcomes from a real git repository: the commits a session made, kept or not."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from agentwrap import paths
from agentwrap.repo import (
    BY_TIME,
    SIGNED,
    check_commits,
    commit_fates,
    record_session_commits,
    session_commits,
)
from agentwrap.trace.store import TraceStore

T0 = 1_790_000_000  # the session's start, as a Unix time
ME = "dev@example.com"


def git(root: Path, *args: str, at: float | None = None, email: str = ME) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": email,
    }
    if at is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{int(at)} +0000"
    done = subprocess.run(
        ["git", "-C", str(root), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(root: Path, name: str, message: str, at: float, email: str = ME) -> str:
    (root / name).write_text(f"{name} at {at}\n")
    git(root, "add", name)
    git(root, "commit", "-q", "-m", message, at=at, email=email)
    return git(root, "rev-parse", "HEAD")


def make_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", ME)
    git(root, "config", "user.name", "Dev")
    commit(root, "base.txt", "base", T0 - 3600)
    return root


SIGNED_MESSAGE = "Fix the parser\n\nCo-Authored-By: Claude <noreply@anthropic.com>"


def test_signed_commits_are_the_sessions_and_others_need_the_author(tmp_path):
    root = make_repo(tmp_path)
    signed = commit(root, "a.txt", SIGNED_MESSAGE, T0 + 10)
    mine = commit(root, "b.txt", "by hand", T0 + 20)
    commit(root, "c.txt", "someone else's", T0 + 30, email="other@example.com")
    commit(root, "d.txt", "after the session", T0 + 3600)
    (claude,) = session_commits(root, "claude", T0, T0 + 60)
    assert (claude.sha, claude.subject, claude.matched_by) == (signed, "Fix the parser", SIGNED)
    assert claude.author == f"Dev <{ME}>" and claude.committed_at == T0 + 10
    # Codex signed nothing here: the commits in its time by the repository's author are its.
    codex = session_commits(root, "codex", T0, T0 + 60)
    assert [(c.sha, c.matched_by) for c in codex] == [(signed, BY_TIME), (mine, BY_TIME)]
    assert session_commits(root, "claude", T0 + 100, T0 + 200) == []
    assert session_commits(tmp_path / "not-a-repo", "claude", T0, T0 + 60) == []


def test_kept_reverted_and_rewritten(tmp_path):
    root = make_repo(tmp_path)
    kept = commit(root, "a.txt", "kept", T0 + 10)
    reverted = commit(root, "b.txt", "reverted later", T0 + 20)
    rewritten = commit(root, "c.txt", "amended later", T0 + 30)
    git(root, "commit", "-q", "--amend", "-m", "amended", at=T0 + 40)
    git(root, "revert", "--no-edit", reverted, at=T0 + 50)
    fates = commit_fates(root, [kept, reverted, rewritten], T0)
    assert fates == {kept: "kept", reverted: "reverted", rewritten: "rewritten"}
    assert commit_fates(tmp_path / "gone", [kept], T0) == {kept: "unknown"}


def test_a_sessions_commits_are_stored_and_checked_when_asked(tmp_path):
    root = make_repo(tmp_path)
    store = TraceStore(paths.trace_db())
    try:
        now = time.time()
        store.insert_session(
            id="s-1", agent="claude", repo_root=str(root), started_at=now - 5, ended_at=now + 60
        )
        store.insert_session(id="s-2", agent="claude", repo_root=None, started_at=now)
        first = commit(root, "a.txt", SIGNED_MESSAGE, now)
        second = commit(root, "b.txt", "More\n\nCo-Authored-By: Claude <x@y>", now + 1)
        assert [c.sha for c in record_session_commits(store, "s-1")] == [first, second]
        assert record_session_commits(store, "s-2") == []
        stored = store.session_commits(["s-1", "s-2"])
        assert [(c["sha"], c["fate"]) for c in stored] == [(first, None), (second, None)]
        git(root, "reset", "-q", "--hard", "HEAD~1")
        checked = check_commits(store, ["s-1"])
        assert [(c["sha"], c["fate"]) for c in checked] == [(first, "kept"), (second, "rewritten")]
        again = store.session_commits(["s-1"])
        assert [c["fate"] for c in again] == ["kept", "rewritten"]
        assert all(c["checked_at"] for c in again)
    finally:
        store.close()
