"""The root app's table of command groups is what the command modules register."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import typer
from typer.testing import CliRunner

import agentwrap.cli
from agentwrap.cli.main import GROUPS, build_app, listing


def test_each_group_answers_to_the_names_its_module_registers() -> None:
    for module, name, names in GROUPS:
        app = importlib.import_module(f"agentwrap.cli.{module}").app
        registered = (name,) if name else tuple(c.name for c in app.registered_commands)
        assert names == registered, module


def test_every_module_with_an_app_is_a_group() -> None:
    with_app = {
        info.name
        for info in pkgutil.iter_modules(agentwrap.cli.__path__)
        if isinstance(
            getattr(importlib.import_module(f"agentwrap.cli.{info.name}"), "app", None),
            typer.Typer,
        )
    }
    assert with_app == {module for module, _, _ in GROUPS}


def _commands(app: typer.Typer) -> set[str]:
    group = typer.main.get_group(app)
    return set(group.commands)


def test_a_command_line_builds_only_the_command_it_names() -> None:
    assert _commands(build_app("sessions")) == {"sessions", "log"}  # one module, two commands
    assert _commands(build_app("profile")) == {"profile"}
    assert _commands(build_app("claude")) == {"claude"}
    everything = _commands(build_app())
    assert _commands(build_app("no-such-command")) == everything
    assert {"claude", "run", "sessions", "profile", "completions"} <= everything


@pytest.mark.parametrize("columns", ["80", "200"])
def test_the_root_help_lists_what_the_whole_app_lists(columns: str) -> None:
    runner = CliRunner()
    whole = runner.invoke(build_app(), ["--help"], env={"COLUMNS": columns})
    listed = runner.invoke(listing(build_app()), ["--help"], env={"COLUMNS": columns})
    assert whole.exit_code == listed.exit_code == 0
    assert "log" in listed.output and "Show the version and exit." in listed.output
    assert listed.output == whole.output
    # The whole app is left as it was: its commands still take their parameters.
    assert "--limit" in runner.invoke(build_app(), ["log", "--help"]).output


def help_texts() -> list[tuple[str, str]]:
    """Every command's and option's help, each with the command line it belongs to."""
    import click

    def walk(command: click.Command, path: str):
        yield path, command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, f"{path} {name}")

    return [
        (path, text)
        for path, command in walk(typer.main.get_command(build_app()), "agentwrap")
        for text in [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    ]


def test_no_help_text_breaks_a_line_inside_a_paragraph() -> None:
    # Help is Rich markup: a docstring's line breaks are drawn as written, mid-sentence at any
    # width but the one it was wrapped for. Paragraphs (a blank line between) are fine.
    broken = [
        f"{path}: {text[:60]!r}"
        for path, text in help_texts()
        if any("\n" in paragraph for paragraph in text.strip().split("\n\n"))
    ]
    assert broken == []


def test_no_help_text_loses_words_in_brackets_to_markup() -> None:
    # Help is Rich markup: "[default: 120]" written as is is read as a tag and drawn as nothing.
    from rich.text import Text

    lost = [
        f"{path}: {text[:60]!r}"
        for path, text in help_texts()
        if Text.from_markup(text).plain != text.replace("\\[", "[")
    ]
    assert lost == []
