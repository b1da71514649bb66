"""Session outcomes from the repository: the commits a session made, and whether they survived.

When a session ends, the commits made in its git repository while it ran are stored with it
(`session_commits`): those the agent signed (a `Co-Authored-By:` trailer naming it, as Claude
Code writes; aider's "(aider)" author) and, when it signs none, those made in the session's
time by the repository's own author (`git config user.email`): agents commit as the user.

Later, whenever a report asks (`check_commits`), each stored commit gets its fate: `kept`
(still reachable from HEAD), `reverted` (a commit reachable from HEAD says "This reverts
commit <sha>"), `rewritten` (no longer reachable from HEAD: amended, rebased, reset away), or
`unknown` (the repository is gone or git cannot tell). Three git commands per repository,
whatever the number of commits; never on the proxy's path.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentwrap.trace.store import TraceStore

KEPT, REVERTED, REWRITTEN, UNKNOWN = "kept", "reverted", "rewritten", "unknown"
FATES = (KEPT, REVERTED, REWRITTEN, UNKNOWN)
SIGNED, BY_TIME = "signed", "time and author"  # how a commit was matched to its session

# How each agent signs its commits: a pattern over a commit's author and message.
SIGNATURES: dict[str, re.Pattern[str]] = {
    "claude": re.compile(r"^Co-Authored-By:.*\bClaude\b", re.IGNORECASE | re.MULTILINE),
    "codex": re.compile(r"^Co-Authored-By:.*\bCodex\b", re.IGNORECASE | re.MULTILINE),
    "gemini": re.compile(r"^Co-Authored-By:.*\bGemini\b", re.IGNORECASE | re.MULTILINE),
    "aider": re.compile(r"\(aider\)|^Co-authored-by:.*\baider\b", re.IGNORECASE | re.MULTILINE),
    "cline": re.compile(r"^Co-Authored-By:.*\bCline\b", re.IGNORECASE | re.MULTILINE),
}
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
# A commit made a little before the session's recorded start or after its end still counts:
# clocks and the session's bookkeeping are a few seconds apart.
SLACK_S = 5.0
GIT_TIMEOUT_S = 10.0
_FIELD, _RECORD = "\x1f", "\x1e"


@dataclass(frozen=True)
class Commit:
    """One commit a session made."""

    sha: str
    subject: str
    author: str  # "Name <email>"
    committed_at: float
    matched_by: str  # SIGNED or BY_TIME


def git(root: str | Path, *args: str) -> str | None:
    """Run git in `root`; its standard output, or None when it fails or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def session_commits(
    root: str | Path, agent: str, started_at: float, ended_at: float
) -> list[Commit]:
    """The commits reachable from HEAD made between `started_at` and `ended_at` by the session,
    oldest first: the agent's signed ones, or, when it signed none, the repository author's."""
    since, until = int(started_at - SLACK_S), int(ended_at + SLACK_S + 1)
    out = git(
        root,
        "log",
        f"--since=@{since}",
        f"--until=@{until}",
        f"--format=%H{_FIELD}%an <%ae>{_FIELD}%ae{_FIELD}%ct{_FIELD}%B{_RECORD}",
        "HEAD",
    )
    if not out:
        return []
    signature = SIGNATURES.get(agent)
    signed: list[Commit] = []
    by_time: list[Commit] = []
    me = (git(root, "config", "user.email") or "").strip().lower()
    for record in out.split(_RECORD):
        fields = record.strip("\n").split(_FIELD)
        if len(fields) != 5:
            continue
        sha, author, email, stamp, message = fields
        when = float(stamp)
        if not since <= when <= until:
            continue  # --since and --until stop at the first commit out of range, not all
        subject = message.strip().splitlines()[0] if message.strip() else ""
        if signature is not None and signature.search(f"{author}\n{message}"):
            signed.append(Commit(sha, subject, author, when, SIGNED))
        elif me and email.lower() == me:
            by_time.append(Commit(sha, subject, author, when, BY_TIME))
    found = signed or by_time
    found.reverse()  # git lists the newest first; a session's story reads oldest first
    return found


def commit_fates(root: str | Path, shas: Sequence[str], since: float) -> dict[str, str]:
    """Each commit's fate now: kept, reverted, rewritten, or unknown (see the module)."""
    if not shas:
        return {}
    if not Path(root).is_dir():
        return dict.fromkeys(shas, UNKNOWN)
    # Everything reachable from HEAD since a day before the oldest commit: one command.
    reachable = git(root, "rev-list", f"--since=@{int(since) - 86400}", "HEAD")
    if reachable is None:
        return dict.fromkeys(shas, UNKNOWN)
    present = set(reachable.split())
    reverts = git(
        root, "log", f"--since=@{int(since)}", "--format=%B", "--grep=This reverts", "HEAD"
    )
    reverted = set(_REVERTS.findall(reverts or ""))
    fates: dict[str, str] = {}
    for sha in shas:
        if any(sha.startswith(short) for short in reverted):
            fates[sha] = REVERTED
        elif sha in present:
            fates[sha] = KEPT
        else:
            fates[sha] = REWRITTEN
    return fates


def record_session_commits(store: TraceStore, session_id: str) -> list[Commit]:
    """Store the commits an ended session made in its repository (none: no repository)."""
    session = store.session(session_id)
    if not session or not session.get("repo_root") or session.get("is_demo"):
        return []
    ended = session.get("ended_at") or time.time()
    commits = session_commits(session["repo_root"], session["agent"], session["started_at"], ended)
    store.add_session_commits(
        session_id,
        [
            {
                "sha": c.sha,
                "subject": c.subject,
                "author": c.author,
                "committed_at": c.committed_at,
                "matched_by": c.matched_by,
            }
            for c in commits
        ],
    )
    return commits


def check_commits(store: TraceStore, session_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Bring the fate of these sessions' stored commits up to date; the commits, as stored."""
    ids = list(session_ids)
    rows = store.session_commits(ids)
    by_repo: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_repo.setdefault(row["repo_root"] or "", []).append(row)
    now = time.time()
    for root, commits in by_repo.items():
        since = min(c["committed_at"] for c in commits)
        fates = (
            commit_fates(root, [c["sha"] for c in commits], since)
            if root
            else dict.fromkeys((c["sha"] for c in commits), UNKNOWN)
        )
        for commit in commits:
            commit["fate"], commit["checked_at"] = fates[commit["sha"]], now
        store.set_commit_fates([(c["session_id"], c["sha"], c["fate"], now) for c in commits])
    return rows
