"""`agentwrap sessions` and `agentwrap log` for typer: their options declared, their work done
by cli/sessionlog.py (which a plain command line reaches without typer: cli/plain.py)."""

from __future__ import annotations

import typer

from agentwrap.cli import sessionlog

app = typer.Typer()


@app.command("sessions", help="List sessions, newest first.")
def sessions_cmd(
    limit: int = typer.Option(20, "-n", "--limit", help="How many sessions."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per session, as a list."),
    demo: bool = typer.Option(False, "--demo", help="Include demo sessions."),
) -> None:
    sessionlog.sessions(limit, as_json, demo)


@app.command("log", help="One row per call of a session (default: the newest).")
def log_cmd(
    session: str = typer.Option(
        "last", "--session", "-s", help="Session id, unique prefix, or 'last'."
    ),
    limit: int | None = typer.Option(None, "-n", "--limit", help="Only the newest N calls."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines, one call per line."),
    demo: bool = typer.Option(
        False, "--demo", help="'last' may be a demo session (an id shows any session)."
    ),
) -> None:
    sessionlog.log(session, limit, as_json, demo)
