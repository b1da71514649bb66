"""The `agentwrap` command: the root app, composed here from one typer app per command group.

Nothing registers itself on import: `build_app` adds one launch command per registered agent
(agents/registry.py) and each command group's app, in the order `--help` lists them. The
command modules import their heavy parts (the proxy, the store, Textual) inside the commands
that need them, so `agentwrap --version` and `--help` load none of those; `--version` alone
answers before typer loads.
"""

from __future__ import annotations

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


def build_app() -> typer.Typer:
    """The whole CLI: a command per registered agent, then every command group."""
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
    for agent in registry.agents():
        launch.add_agent_command(app, agent)
    app.add_typer(launch.app)  # run, serve
    app.add_typer(agents.app)
    app.add_typer(logs.app)  # sessions, log
    app.add_typer(report.app)
    app.add_typer(export.app)
    app.add_typer(top.app)
    app.add_typer(profile.app, name="profile")
    app.add_typer(prices.app)
    app.add_typer(route.app, name="route")
    app.add_typer(learn.app, name="learn")
    app.add_typer(statusline.app)
    app.add_typer(demo.app)
    app.add_typer(completions.app)
    return app


def run() -> None:
    """The `agentwrap` console script."""
    if len(sys.argv) == 2 and sys.argv[1] in VERSION_FLAGS:
        # The one answer that needs no command line parsed: give it without loading typer.
        print(f"agentwrap {__version__}")
        return
    build_app()()
