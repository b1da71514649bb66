"""`agentwrap top`: the live panel for a session (or all sessions)."""

from __future__ import annotations

import typer

app = typer.Typer()


@app.command("top")
def top(
    session: str | None = typer.Argument(
        None,
        help="Session id, unique id prefix, or 'last'. Default: the newest running session, "
        "else the newest.",
    ),
    all_sessions: bool = typer.Option(
        False,
        "--all",
        "-a",
        help="Follow every session's calls in one table (the 20 newest sessions, then every "
        "session that makes a call).",
    ),
    include_demo: bool = typer.Option(
        False,
        "--demo",
        help="Include demo sessions (simulated providers): with --all, in the table; without "
        "a SESSION, when choosing the newest.",
    ),
) -> None:
    """Watch every call as it happens: model, reason, tokens, cost against the baseline."""
    # Textual and the store load only when the command runs, not when the CLI starts.
    from agentwrap.cli.sessionlog import NO_SESSIONS, demo_note
    from agentwrap.cli.store import open_store
    from agentwrap.trace.live import StoreFollower
    from agentwrap.trace.queries import pick_session

    if all_sessions and session:
        raise typer.BadParameter("give a SESSION or --all, not both")
    store = open_store()
    try:
        if all_sessions:
            feed = StoreFollower(store, None, include_demo=include_demo)
        else:
            found = pick_session(store, session, include_demo=include_demo)
            if found is None:
                if session not in (None, "", "last"):
                    what = f"no session matches '{session}' (see: agentwrap sessions)"
                else:
                    what = NO_SESSIONS[0].lower() + NO_SESSIONS[1:]
                typer.echo(f"agentwrap top: {what}", err=True)
                if not session and not include_demo and (hidden := demo_note(store)):
                    typer.echo(hidden, err=True)
                raise typer.Exit(1)
            feed = StoreFollower(store, found["id"])
        from agentwrap.tui.app import TopApp

        TopApp(feed, all_sessions=all_sessions).run_on_terminal()
    finally:
        store.close()
