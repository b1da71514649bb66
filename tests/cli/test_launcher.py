"""A plain launch line is read without typer, and read exactly as typer reads it."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import typer

from agentwrap.cli.launcher import LaunchOptions, plain_launch
from agentwrap.cli.main import build_app
from tests.conftest import subprocess_env

# agentwrap's options with and without their values, agents' own options and arguments, and
# what only the full parser reads (help, `--`, a short cluster holding -q).
VOCABULARY = [
    "--quiet",
    "-q",
    "--observe",
    "--transparent",
    "--profile",
    "balanced",
    "--profile=frugal",
    "--route",
    "plan=opus",
    "--route=explore=haiku",
    "--panel=off",
    "-p",
    "fix the -q bug",
    "--model",
    "--",
    "-cq",
    "-h",
    "--help",
    "-",
]

COMMAND = typer.main.get_command(build_app("claude")).commands["claude"]


def _typer_reads(tokens: list[str]) -> tuple[LaunchOptions, list[str]]:
    ctx = COMMAND.make_context("claude", list(tokens))
    p = ctx.params
    options = LaunchOptions(
        p["profile"],
        list(p["route"] or []),
        p["observe"],
        p["quiet"],
        p["panel_mode"],
        p["transparent"],
    )
    return options, list(ctx.args)


def test_every_line_read_without_typer_is_read_as_typer_reads_it() -> None:
    read = 0
    for n in range(4):
        for tokens in itertools.product(VOCABULARY, repeat=n):
            plain = plain_launch(list(tokens))
            if plain is None:
                continue
            read += 1
            assert plain == _typer_reads(list(tokens)), tokens
    assert read > 1000  # most lines need no parser


def test_the_lines_people_type_need_no_parser() -> None:
    assert plain_launch([]) == (LaunchOptions(), [])
    assert plain_launch(["--quiet", "-p", "hello"]) == (LaunchOptions(quiet=True), ["-p", "hello"])
    assert plain_launch(["--profile", "balanced", "--route", "plan=opus", "--resume"]) == (
        LaunchOptions(profile="balanced", routes=["plan=opus"]),
        ["--resume"],
    )
    for needs_the_parser in (
        ["--help"],
        ["-h"],
        ["--", "-q"],
        ["-p", "x", "--quiet"],
        ["--profile"],
    ):
        assert plain_launch(needs_the_parser) is None, needs_the_parser


def test_a_plain_launch_starts_the_agent_before_typer_loads(
    agentwrap_home: Path, tmp_path: Path
) -> None:
    # The probe writes down the loaded modules as the session spawns the agent.
    agent = tmp_path / "agent"
    agent.write_text("#!/bin/sh\nexit 3\n")
    agent.chmod(0o755)
    out = tmp_path / "modules.json"
    code = (
        "import json, sys\n"
        "import agentwrap.session as session\n"
        "spawn = session.Session.spawn_child\n"
        "def spawn_child(self, plan):\n"
        f"    with open({str(out)!r}, 'w') as f:\n"
        "        json.dump(sorted(sys.modules), f)\n"
        "    return spawn(self, plan)\n"
        "session.Session.spawn_child = spawn_child\n"
        "from agentwrap.cli.main import script\n"
        "sys.argv = ['agentwrap', *sys.argv[1:]]\n"
        "script()\n"
    )
    for args, parsed_by_typer in ((["--quiet", "--panel", "off"], False), (["--", "-x"], True)):
        done = subprocess.run(
            [sys.executable, "-c", code, "claude", *args],
            env=subprocess_env(AGENTWRAP_CLAUDE_BIN=str(agent)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 3, done.stderr  # the agent's own exit code
        assert ("typer" in json.loads(out.read_text())) is parsed_by_typer, args
