"""A reading command's plain line is read without typer, and read exactly as typer reads it."""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
from collections.abc import Callable
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap.cli import plain
from agentwrap.cli.main import PLAIN_COMMANDS, build_app
from agentwrap.cli.plain import COMMANDS, PlainCommand, plain_read, run_plainly


@functools.cache
def _typer_command(name: str) -> Any:
    """The command typer makes of `name` (typer's own copy of click's Command)."""
    return typer.main.get_command(build_app(name)).commands[name]  # type: ignore[attr-defined]


def _work(command: PlainCommand) -> tuple[Any, str]:
    module, _, function = command.work.partition(":")
    return importlib.import_module(module), function


# Values of every kind: dates good and bad, groupings, names, paths, and what only typer reads.
VALUES = [
    "2025-01-01",
    "model",
    "quality",
    "claude",
    "/tmp",
    "x=1",
    "",
    "-",
    "5",
    "+3",
    " 7",
    "1_0",
]
TYPER_ONLY = ["--", "--help", "-h", "-x", "--nope", "--json=1", "--version"]


def _vocabulary(command: PlainCommand) -> list[str]:
    options = [*command.flags, *command.valued, *command.left_to_typer]
    joined = [f"{name}={VALUES[0]}" for name in (*command.valued, *command.left_to_typer)]
    return [*options, *joined, *VALUES, *TYPER_ONLY]


# typer's type of a parameter, and the plain parser's conversion of it.
_CONVERSIONS = {"str": None, "boolean": None, "int": int, "float": float}


def test_the_plain_commands_are_the_ones_main_sends_to_it() -> None:
    assert tuple(COMMANDS) == PLAIN_COMMANDS


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_table_is_its_typer_commands_parameters(name: str) -> None:
    command = COMMANDS[name]
    flags: dict[str, str] = {}
    valued: dict[str, str] = {}
    left: dict[str, str] = {}
    arguments: list[tuple[str, Any]] = []
    for param in _typer_command(name).params:
        assert param.name is not None
        if param.param_type_name == "argument":
            arguments.append((param.name, param.default))
            continue
        assert param.param_type_name == "option"
        for opt in [*param.opts, *param.secondary_opts]:
            if opt in command.left_to_typer:
                left[opt] = param.name
            elif param.is_flag:
                flags[opt] = param.name
            else:
                valued[opt] = param.name
        if not any(opt in command.left_to_typer for opt in param.opts):
            assert param.default == command.defaults()[param.name], param.name
            # A value typer converts is converted alike (click's integers are Python's).
            assert command.types.get(param.name) is _CONVERSIONS[param.type.name], param.name
    assert flags == command.flags
    assert valued == command.valued
    assert sorted(left) == sorted(command.left_to_typer)  # every option covered, or left
    assert arguments == (
        [(command.argument, command.defaults()[command.argument])] if command.argument else []
    )
    # The work takes every parameter the typer command has, under the same names.
    module, function = _work(command)
    work = inspect.signature(getattr(module, function)).parameters
    assert sorted(work) == sorted([*command.defaults(), *left.values()])


def _as_typer_runs_it(
    name: str, tokens: list[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any] | None:
    """The values the typer command passes to the command's work; None: typer refused it."""
    return _called_with(
        name,
        monkeypatch,
        lambda: _typer_command(name).main(tokens, prog_name="x", standalone_mode=False),
    )


def _as_run_plainly(
    name: str, tokens: list[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any] | None:
    """The values `run_plainly` passes to the command's work; None: it declined the line."""

    def run() -> None:
        run_plainly(name, tokens)

    return _called_with(name, monkeypatch, run)


def _called_with(
    name: str, monkeypatch: pytest.MonkeyPatch, run: Callable[[], object]
) -> dict[str, Any] | None:
    module, function = _work(COMMANDS[name])
    real = getattr(module, function)
    calls: list[dict[str, Any]] = []

    def record(*args: Any, **kwargs: Any) -> None:
        bound = inspect.signature(real).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))

    with monkeypatch.context() as patch:
        patch.setattr(module, function, record)
        try:
            run()
        except typer.TyperException:  # a usage error: typer refuses the line
            return None
        except SystemExit as exc:
            assert exc.code == 0
    assert len(calls) <= 1
    return calls[0] if calls else None


def _same_as_typer(name: str, tokens: list[str], monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the plain parser reads `tokens`; when it does, it must pass the work the very
    values typer passes."""
    read = plain_read(COMMANDS[name], tokens)
    if read is None:
        return False
    plainly = _as_run_plainly(name, tokens, monkeypatch)
    assert plainly is not None, tokens
    assert {key: plainly[key] for key in read} == read, tokens
    assert _as_typer_runs_it(name, tokens, monkeypatch) == plainly, tokens
    return True


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_line_read_without_typer_is_read_as_typer_reads_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vocabulary = _vocabulary(COMMANDS[name])
    read = 0
    for n in range(4):
        for tokens in itertools.product(vocabulary, repeat=n):
            read += _same_as_typer(name, list(tokens), monkeypatch)
    assert read >= 50  # many lines need no typer


@pytest.mark.parametrize("name", list(COMMANDS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_longer_lines_read_without_typer_are_read_as_typer_reads_them(
    name: str, data: st.DataObject
) -> None:
    tokens = data.draw(st.lists(st.sampled_from(_vocabulary(COMMANDS[name])), max_size=10))
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same_as_typer(name, tokens, monkeypatch)


def test_the_lines_people_type_need_no_typer() -> None:
    report = COMMANDS["report"]
    assert plain_read(report, []) == report.defaults()
    assert plain_read(report, ["model", "--since=2025-01-01", "--json"]) == {
        **report.defaults(),
        "grouping": "model",
        "since": "2025-01-01",
        "as_json": True,
    }
    log = COMMANDS["log"]
    assert plain_read(log, ["-n", "5", "--session=abc"]) == {
        **log.defaults(),
        "limit": 5,
        "session": "abc",
    }
    for needs_typer in (["-n=5"], ["-n5"], ["-n", "five"], ["-s"], ["last"]):
        assert plain_read(log, needs_typer) is None, needs_typer
    for needs_typer in (
        ["--help"],
        ["model", "-h"],
        ["--", "model"],
        ["--since"],
        ["--agent", "--json"],
        ["--compare", "balanced"],
        ["model", "step"],
        ["--json=yes"],
    ):
        assert plain_read(report, needs_typer) is None, needs_typer


def test_a_completion_request_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plain.COMPLETION_VAR, "bash_complete")
    assert _as_run_plainly("report", [], monkeypatch) is None
