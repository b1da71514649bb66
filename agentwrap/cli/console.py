"""The Rich console a command prints its tables on."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Off a terminal with no COLUMNS: wide enough that no table cell is cut.
PIPE_WIDTH = 250


def out_console() -> Console:
    """A console on stdout at the terminal's width. Written to a pipe or a file with no COLUMNS
    set, it is PIPE_WIDTH wide instead of Rich's 80, so a table keeps every id and model name
    whole (a table is never wider than its cells need)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console
