"""The `agentwrap` command: one typer app composed from one module per command group."""

from __future__ import annotations

import typer

from agentwrap import __version__

app = typer.Typer(
    name="agentwrap",
    help="A local-first model router for coding agents: launch an agent through agentwrap's "
    "proxy, route each step to the right model, and see what every call cost.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentwrap {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Show the version and exit.",
        callback=_version,
        is_eager=True,
    ),
) -> None:
    """agentwrap: route a coding agent's model calls, step by step."""


def _register() -> None:
    # Each command group lives in its own module and registers itself on `app`.
    from agentwrap.cli import launch, logs  # noqa: F401

    launch.add_agent_commands(app)
    for optional in (
        "profile",
        "route",
        "top",
        "statusline",
        "demo",
        "completions",
        "report",
    ):
        try:
            __import__(f"agentwrap.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agentwrap.cli.{optional}":
                raise


def run() -> None:
    _register()
    app()
