"""`agentwrap codex`: run the Codex CLI through agentwrap."""

from __future__ import annotations

import typer

from agentwrap.agents import codex as codex_agent
from agentwrap.cli.launch import (
    PASSTHROUGH,
    ObserveOpt,
    PanelOpt,
    ProfileOpt,
    QuietOpt,
    RouteOpt,
    run_agent,
)
from agentwrap.cli.main import app

# Codex options that take a value (so the word after them is not a subcommand).
_VALUE_OPTIONS = frozenset(
    {
        "-c",
        "--config",
        "--enable",
        "--disable",
        "-m",
        "--model",
        "-p",
        "--profile",
        "-s",
        "--sandbox",
        "-a",
        "--ask-for-approval",
        "-C",
        "--cd",
        "-i",
        "--image",
        "--remote",
        "--local-provider",
        "--add-dir",
    }
)
# Subcommands that run without Codex's full-screen UI: no panel beside them.
_BATCH_COMMANDS = frozenset({"exec", "e", "review"})


def subcommand(args: list[str]) -> str | None:
    """The first argument that is neither an option nor its value: a subcommand or a prompt."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


@app.command(
    "codex",
    context_settings=PASSTHROUGH,
    help="Run the Codex CLI through agentwrap. Every argument after the options goes to codex "
    'untouched (e.g. agentwrap codex exec "fix the tests").',
)
def codex_cmd(
    ctx: typer.Context,
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    observe: bool = ObserveOpt,
    quiet: bool = QuietOpt,
    panel_mode: str | None = PanelOpt,
) -> None:
    args = list(ctx.args)
    batch = subcommand(args) in _BATCH_COMMANDS  # `codex exec` prints and exits
    run_agent(
        codex_agent, "Codex CLI ('codex')", args, profile, route, observe, quiet, panel_mode, batch
    )
