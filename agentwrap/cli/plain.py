"""Commands that run without typer when a plain parser reads their line whole: reading, serve.

typer takes about 20 ms to load, build a command and invoke it, of the 120-160 ms a reading
command takes. A line such as `agentwrap report model --since 2025-01-01 --json` or
`agentwrap log -n 20` (known options, each with its value, at most one argument) is read here
and handed to the same function the typer command calls; any other line (help, `--`, an
unknown option, a value typer would refuse, an option left to typer, a completion request)
returns None and goes through typer, which reads it and reports its errors as it always did.
tests/cli/test_plain.py holds each table below to its typer command's parameters and its
reading to typer's. `agentwrap serve` is here for its memory rather than its time: the
proxy's process then holds neither typer nor click (bench/README.md).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Set by the shell completion scripts: the line is a completion request, typer's to answer.
COMPLETION_VAR = "_AGENTWRAP_COMPLETE"


class BadValue(ValueError):
    """A value a command's work refuses before doing anything: its message, and which argument
    or option gave it (the typer command raises it as its `BadParameter`)."""

    def __init__(self, message: str, param_hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


def echo(message: str, err: bool = False) -> None:
    """Write `message` and a newline to stdout (or stderr) and flush, as typer's echo does: in
    one write, so a reader that goes away (`| head`) is met as it was under typer."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{message}\n")
    stream.flush()


@dataclass(frozen=True)
class PlainCommand:
    """A command line's shape as the plain parser reads it: its optional argument, its flags
    and valued options (each to its parameter's name), the parameters that are not strings
    (their conversion) or not None or False by default, the options only typer reads, and the
    function (`module:name`) that does its work with those parameters as keywords."""

    work: str
    argument: str | None = None  # the parameter of its one optional argument
    flags: Mapping[str, str] = field(default_factory=dict)
    valued: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)
    given_defaults: Mapping[str, Any] = field(default_factory=dict)
    left_to_typer: tuple[str, ...] = ()
    repeated: tuple[str, ...] = ()  # parameters whose option may be given again: a list

    def defaults(self) -> dict[str, Any]:
        """Every parameter's value when the line gives none."""
        values: dict[str, Any] = dict.fromkeys(self.flags.values(), False)
        values.update(dict.fromkeys(self.valued.values()))
        if self.argument is not None:
            values[self.argument] = None
        values.update(self.given_defaults)
        return values


COMMANDS: dict[str, PlainCommand] = {
    "report": PlainCommand(
        work="agentwrap.cli.reporting:report",
        argument="grouping",
        flags={"--json": "as_json", "--demo": "demo"},
        valued={"--since": "since", "--until": "until", "--agent": "agent", "--project": "project"},
        given_defaults={"grouping": "daily"},
        # Loading the profile to compare with exits through typer.
        left_to_typer=("--compare",),
    ),
    "log": PlainCommand(
        work="agentwrap.cli.sessionlog:log",
        flags={"--json": "as_json", "--demo": "demo"},
        valued={"--session": "session", "-s": "session", "--limit": "limit", "-n": "limit"},
        types={"limit": int},
        given_defaults={"session": "last"},
    ),
    "sessions": PlainCommand(
        work="agentwrap.cli.sessionlog:sessions",
        flags={"--json": "as_json", "--demo": "demo"},
        valued={"--limit": "limit", "-n": "limit"},
        types={"limit": int},
        given_defaults={"limit": 20},
    ),
    # The proxy's process then holds neither typer nor click (bench/README.md, RSS).
    "serve": PlainCommand(
        work="agentwrap.cli.launcher:serve",
        flags={"--observe": "observe"},
        valued={
            "--port": "port",
            "--profile": "profile",
            "--route": "route",
            "--max-body": "max_body",
            "--agent": "agent",
            "--first-byte-timeout": "first_byte_timeout",
            "--stall-timeout": "stall_timeout",
        },
        types={
            "port": int,
            "max_body": int,
            "first_byte_timeout": float,
            "stall_timeout": float,
        },
        given_defaults={"port": 0, "agent": "serve"},
        repeated=("route",),
    ),
}


def plain_read(command: PlainCommand, tokens: list[str]) -> dict[str, Any] | None:
    """The parameters `tokens` (the line after the command's name) give `command`'s work, as
    typer would pass them; None when the line needs typer to read it."""
    values = command.defaults()
    argument_given = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, value = token.partition("=")
        if token in command.flags:
            values[command.flags[token]] = True
            i += 1
        elif name in command.valued and (not eq or name.startswith("--")):
            if not eq:
                if i + 1 == len(tokens):
                    return None
                value = tokens[i + 1]
                if value.startswith("-"):
                    return None  # typer may read it as the value or as an option
            parameter = command.valued[name]
            convert = command.types.get(parameter)
            try:
                converted = value if convert is None else convert(value)
            except ValueError:
                return None  # typer says what is wrong with it
            if parameter in command.repeated:
                values[parameter] = [*(values[parameter] or []), converted]
            else:
                values[parameter] = converted
            i += 1 if eq else 2
        elif token.startswith("-") or command.argument is None or argument_given:
            return None  # help, `--`, an option unknown or left to typer, a second argument
        else:
            values[command.argument] = token
            argument_given = True
            i += 1
    return values


def run_plainly(name: str, tokens: list[str]) -> None:
    """Run the command `name` with `tokens` without typer when `plain_read` reads them, and
    exit as typer would; otherwise, or when its work refuses a value before doing anything
    (typer then says so in its own words), return."""
    command = COMMANDS.get(name)
    if command is None or COMPLETION_VAR in os.environ:
        return
    values = plain_read(command, tokens)
    if values is None:
        return
    module, _, function = command.work.partition(":")
    work = getattr(importlib.import_module(module), function)
    try:
        work(**values)
    except BadValue:
        return  # raised before any output: typer reads the line again and reports it
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # as typer ends a command on Ctrl-C
    except BrokenPipeError:
        # The reader went away (`| head`): as typer does, exit 1 without a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    raise SystemExit(0)
