"""`agentwrap statusline`: the status line, from the CLI (the agent runs the faster
`python -m agentwrap.statusline`)."""

from __future__ import annotations

import typer

app = typer.Typer()


@app.command("statusline")
def statusline() -> None:
    """Print one line for Claude Code's status line (reads its JSON on stdin)."""
    from agentwrap.statusline import main

    main()
