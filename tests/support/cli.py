"""agentwrap's commands run in the test's own process, for tests of what a command reads and
prints.

A subprocess costs a Python start and agentwrap's imports, about half a second a command: keep
one where the installed script, its exit status as a process, signals or argv are the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import typer
from typer.testing import CliRunner


@dataclass(frozen=True)
class Ran:
    """What a command did, as subprocess.run reports it."""

    returncode: int
    stdout: str
    stderr: str


@cache
def _app() -> typer.Typer:
    from agentwrap.cli.main import build_app

    return build_app()


def agentwrap(*args: str, input: str | None = None, **env: str | None) -> Ran:
    """`agentwrap ARGS` in this process, `env` set on top of os.environ (None unsets a variable).

    An exception the command did not turn into an exit status is raised here, as the installed
    script would have shown its traceback.
    """
    result = CliRunner().invoke(_app(), list(args), input=input, env=env or None)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)
