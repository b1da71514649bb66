"""The `agentwrap` command: the root app, composed here from one typer app per command group.

Nothing registers itself on import: `build_app` adds one launch command per registered agent
(agents/registry.py) and each command group's app, in the order `--help` lists them. The
command modules import their heavy parts (the proxy, the store, Textual) inside the commands
that need them, so `agentwrap --version` and `--help` load none of those; `--version` alone
answers before typer loads.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from agentwrap import __version__

if TYPE_CHECKING:
    import typer

HELP = (
    "A local-first model router for coding agents: launch an agent through agentwrap's "
    "proxy, route each step to the right model, and see what every call cost."
)


VERSION_FLAGS = ("--version", "-V")


def _version(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"agentwrap {__version__}")
        raise typer.Exit()


def build_app(only: str | None = None) -> typer.Typer:
    """The whole CLI: a command per registered agent, then every command group.

    With `only`, the app holds just the command (or group) of that name: typer turns every
    command's signature into click parameters when the app runs (0.1 s for all of them), and
    a command line runs one. None, or a name no command has: every command.
    """
    import typer

    from agentwrap.agents import registry
    from agentwrap.cli import (
        agents,
        completions,
        demo,
        export,
        launch,
        learn,
        logs,
        prices,
        profile,
        report,
        route,
        statusline,
        top,
    )

    def main(
        version: bool = typer.Option(
            False,
            *VERSION_FLAGS,
            help="Show the version and exit.",
            callback=_version,
            is_eager=True,
        ),
    ) -> None:
        """agentwrap: route a coding agent's model calls, step by step."""

    app = typer.Typer(
        name="agentwrap",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(main)
    groups: list[tuple[typer.Typer, str | None]] = [
        (launch.app, None),  # run, serve
        (agents.app, None),
        (logs.app, None),  # sessions, log
        (report.app, None),
        (export.app, None),
        (top.app, None),
        (profile.app, "profile"),
        (prices.app, None),
        (route.app, "route"),
        (learn.app, "learn"),
        (statusline.app, None),
        (demo.app, None),
        (completions.app, None),
    ]

    def names(group: typer.Typer, name: str | None) -> set[str | None]:
        return {name} if name else {c.name for c in group.registered_commands}

    agent_names = {a.name for a in registry.agents()}
    if only not in agent_names and not any(only in names(*g) for g in groups):
        only = None
    for agent in registry.agents():
        if only in (None, agent.name):
            launch.add_agent_command(app, agent)
    for group, name in groups:
        if only is None or only in names(group, name):
            app.add_typer(group, name=name)
    return app


def run() -> None:
    """The `agentwrap` console script."""
    if len(sys.argv) == 2 and sys.argv[1] in VERSION_FLAGS:
        # The one answer that needs no command line parsed: give it without loading typer.
        print(f"agentwrap {__version__}")
        return
    first = sys.argv[1] if len(sys.argv) > 1 else None
    build_app(first)()


def script() -> None:
    """The `agentwrap` console script: `run`, and after a launch, a quick exit.

    Once a launch has closed its session (trace flushed, proxy stopped, summary printed)
    nothing is left to do but free memory: the interpreter's teardown of what the proxy
    loaded costs about 0.1 s of CPU after the agent has exited, so it is skipped.
    """
    try:
        run()
    except SystemExit as exc:
        from agentwrap.cli import launch

        if not launch.session_closed:
            raise
        code = exc.code
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)
