"""Where agentwrap keeps its config and data, and keeping both private.

`AGENTWRAP_HOME` moves both (tests set it); otherwise platformdirs' user dirs. The trace
holds prompts' metadata and the session's calls, so the directories are the user's alone
(0700) and so are the files in them (0600), whatever the umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

APP = "agentwrap"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def home_override() -> Path | None:
    value = os.environ.get("AGENTWRAP_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = home_override()
    if home:
        return home / "config"
    import platformdirs  # loaded when asked: `--help` never asks

    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    home = home_override()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def config_file() -> Path:
    return config_dir() / "config.toml"


def trace_db() -> Path:
    return data_dir() / "trace.db"


def log_file() -> Path:
    """Where unexpected errors are written (never to the agent's terminal)."""
    return data_dir() / "agentwrap.log"


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as the user's alone; tighten it if it exists."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR)
        os.chmod(path, PRIVATE_DIR)  # exactly, whatever the umask took away
    except FileExistsError:
        tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, readable by the user alone; tighten it if it exists.

    Created with its final mode, so no other user can open it in between.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        tighten(path, PRIVATE_FILE)
        return path
    try:
        os.fchmod(fd, PRIVATE_FILE)  # exactly, whatever the umask took away
    finally:
        os.close(fd)
    return path


def tighten(path: Path, mode: int) -> None:
    """Remove every permission beyond `mode` from an existing path (a missing one is fine)."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            os.chmod(path, current & mode)
    except (FileNotFoundError, PermissionError):
        pass  # gone, or not ours to change


def secure_dirs() -> None:
    """Tighten the config and data directories that exist (made before agentwrap did this)."""
    for directory in (config_dir(), data_dir()):
        if directory.is_dir():
            tighten(directory, PRIVATE_DIR)
