"""The URL of the repository a session ran in, as a team's dashboards group by it."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

_USERINFO = re.compile(r"^([a-z][a-z0-9+.\-]*://)[^/@]+@", re.IGNORECASE)


def origin_url(repo_root: str | Path | None) -> str | None:
    """The `origin` remote's URL from the repository's .git/config, credentials removed.

    Read from the file (no git subprocess); None outside a repository or without an origin."""
    if not repo_root:
        return None
    git = Path(repo_root) / ".git"
    config = git / "config"
    if git.is_file():
        # A worktree or submodule: .git names the real git directory.
        text = git.read_text("utf-8", "replace").strip()
        if text.startswith("gitdir:"):
            real = Path(text[len("gitdir:") :].strip())
            real = real if real.is_absolute() else (git.parent / real)
            common = real / "commondir"
            base = (real / common.read_text().strip()) if common.is_file() else real
            config = base / "config"
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(config, encoding="utf-8")
        url = parser.get('remote "origin"', "url", fallback=None)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    if not url:
        return None
    # https://user:token@host/... must never leave the machine.
    return _USERINFO.sub(r"\1", url.strip())
