"""The `agentwrap` command: the root app, composed here from one typer app per command group.

Nothing registers itself on import: `build_app` adds one launch command per registered agent
(agents/registry.py) and each command group's app, in the order `--help` lists them. The
command modules import their heavy parts (the proxy, the store, Textual) inside the commands
that need them, so `agentwrap --version` and `--help` load none of those; `--version`, a
plain launch line (cli/launcher.py) and a plain reading command's line (cli/plain.py) are
answered before typer loads.
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
HELP_FLAGS = ("--help", "-h")
# The commands whose plain lines cli/plain.py runs without typer (its COMMANDS, by name).
PLAIN_COMMANDS = ("report", "log", "sessions", "serve")


def _version(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"agentwrap {__version__}")
        raise typer.Exit()


# Every command group after the agents' launch commands, in the order `--help` lists them:
# its module in agentwrap.cli, the name its app is added under (None: its commands sit at the
# top level), and the command names it answers to. Kept here so that a command line imports
# the one module it names (tests/cli/test_main.py holds these names to the modules' commands).
GROUPS: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("launch", None, ("run", "serve")),
    ("agents", None, ("agents",)),
    ("logs", None, ("sessions", "log")),
    ("report", None, ("report",)),
    ("export", None, ("export",)),
    ("top", None, ("top",)),
    ("profile", "profile", ("profile",)),
    ("prices", None, ("prices",)),
    ("route", "route", ("route",)),
    ("learn", "learn", ("learn",)),
    ("statusline", None, ("statusline",)),
    ("demo", None, ("demo",)),
    ("completions", None, ("completions",)),
)


def build_app(only: str | None = None) -> typer.Typer:
    """The whole CLI: a command per registered agent, then every command group.

    With `only`, the app holds just the command (or group) of that name, and only its module
    is imported: typer turns every command's signature into click parameters when the app
    runs (0.1 s for all of them), and the modules' imports cost as much again. None, or a name
    no command has: every command.
    """
    import importlib

    import typer

    from agentwrap.cli.helprender import defer_unused_rich

    defer_unused_rich()

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
    groups = [g for g in GROUPS if only in g[2]]
    if not groups:
        from agentwrap.agents import registry
        from agentwrap.cli import launch

        agents = registry.agents()
        if only not in {a.name for a in agents}:
            only, groups = None, list(GROUPS)
        for agent in agents:
            if only in (None, agent.name):
                launch.add_agent_command(app, agent)
    for module, name, _ in groups:
        group: typer.Typer = importlib.import_module(f"agentwrap.cli.{module}").app
        app.add_typer(group, name=name)
    return app


def listing(app: typer.Typer) -> typer.Typer:
    """`app` as its root help lists it: every command and group under its name and help, each
    command's callback a stand-in without parameters. The root help shows no command's
    parameters, and typer builds every parameter of every command it lists (reading their
    type hints: 15 ms of `agentwrap --help` here); tests/cli/test_main.py holds the help to
    the whole app's."""
    import copy
    import inspect

    from typer.main import get_command_name

    listed = copy.copy(app)
    listed.registered_commands = []
    for info in app.registered_commands:
        command = copy.copy(info)
        callback = info.callback
        assert callback is not None  # typer refuses a command without one
        command.name = info.name or get_command_name(callback.__name__)
        command.help = info.help if info.help is not None else inspect.getdoc(callback)
        command.callback = _listed_only
        listed.registered_commands.append(command)
    listed.registered_groups = []
    for group in app.registered_groups:
        copied = copy.copy(group)
        if group.typer_instance is not None:
            copied.typer_instance = listing(group.typer_instance)
        listed.registered_groups.append(copied)
    return listed


def _listed_only() -> None:
    """A listed command's stand-in; the root help never runs it."""


def run() -> None:
    """The `agentwrap` console script."""
    if len(sys.argv) == 2 and sys.argv[1] in VERSION_FLAGS:
        # The one answer that needs no command line parsed: give it without loading typer.
        print(f"agentwrap {__version__}")
        return
    first = sys.argv[1] if len(sys.argv) > 1 else None
    if first in PLAIN_COMMANDS:
        # A reading command's plain line is run before typer loads (cli/plain.py).
        from agentwrap.cli.plain import run_plainly

        run_plainly(first, sys.argv[2:])
    if first and not first.startswith("-") and not any(first in g[2] for g in GROUPS):
        # Maybe an agent: a plain launch line starts it before typer loads.
        from agentwrap.cli.launcher import launch_directly

        launch_directly(first, sys.argv[2:])
    app = build_app(first)
    if sys.argv[1:] in ([], *([flag] for flag in HELP_FLAGS)):
        app = listing(app)  # nothing but the root help can come of this line
    app()


def script() -> None:
    """The `agentwrap` console script: `run`, and after a launch, a quick exit.

    Once a launch has closed its session (trace flushed, proxy stopped, summary printed)
    nothing is left to do but free memory: the interpreter's teardown of what the proxy
    loaded costs about 0.1 s of CPU after the agent has exited, so it is skipped.
    """
    try:
        run()
    except SystemExit as exc:
        # Only a launch closes a session; any other command has not loaded its module.
        launcher = sys.modules.get("agentwrap.cli.launcher")
        if launcher is None or not launcher.session_closed:
            raise
        code = exc.code
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)
