"""Where agentwrap keeps its config and data.

`AGENTWRAP_HOME` moves both (tests set it); otherwise platformdirs' user dirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "agentwrap"


def home_override() -> Path | None:
    value = os.environ.get("AGENTWRAP_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = home_override()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    home = home_override()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP))


def config_file() -> Path:
    return config_dir() / "config.toml"


def trace_db() -> Path:
    return data_dir() / "trace.db"
