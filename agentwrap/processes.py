"""Small facts about operating-system processes, for code at any layer (no other imports)."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """True when a process with this id exists (a session whose launcher died is not running)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return True


def process_started(pid: int) -> str | None:
    """When a process started, as an opaque token to compare (None where it cannot be read).

    On Linux: its start time in clock ticks after boot, from /proc/<pid>/stat.
    """
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except (OSError, ValueError):
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None  # field 22, starttime


def process_alive(pid: int | None, started: str | None) -> bool:
    """True when `pid` is alive and is still the process that started at `started`.

    A reused pid (another process, started later) is not alive; without a recorded start
    time only the pid is checked.
    """
    if not pid_alive(pid):
        return False
    if started is None or pid is None:
        return True
    now = process_started(pid)
    return now is None or now == started
