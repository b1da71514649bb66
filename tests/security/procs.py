"""Reading other processes the way `ps` does: command lines, parents, environments (Linux)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from agentwrap.agents.base import SECRET_ENV

PROC = Path("/proc")
# A proxy base URL in a child's environment: the session secret is its last path segment.
SESSION_URL = re.compile(r"http://127\.0\.0\.1:\d+/s/([A-Za-z0-9_-]+)")


def pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def cmdline(pid: int) -> str:
    """What `ps -o args` shows for a process (empty once it is gone)."""
    try:
        return (
            (PROC / str(pid) / "cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
        )
    except OSError:
        return ""


def parent(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def descendants(root: int) -> list[int]:
    """Every process below `root`, at this moment."""
    children: dict[int, list[int]] = {}
    for pid in pids():
        ppid = parent(pid)
        if ppid is not None:
            children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def environ(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode("utf-8", "replace").partition("=") for item in raw.split(b"\0") if item)
    return {k: v for k, _, v in pairs}


def session_secret(root: int) -> str | None:
    """The session secret agentwrap (process `root`) gave its agent, read from the agent's
    environment as any process of the user could."""
    for pid in descendants(root):
        env = environ(pid)
        if env.get(SECRET_ENV):
            return env[SECRET_ENV]
        for value in env.values():
            found = SESSION_URL.search(value)
            if found:
                return found.group(1)
    return None


def command_lines_holding(text: str) -> list[tuple[int, str]]:
    """Every process on the machine whose command line holds `text`."""
    mine = os.getpid()
    return [(pid, line) for pid in pids() if pid != mine and text in (line := cmdline(pid))]
