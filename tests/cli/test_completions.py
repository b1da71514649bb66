"""The completion files in completions/ are the CLI's own output, and they work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from agentwrap.cli.completions import SHELLS, command_tree, script
from agentwrap.cli.main import build_app

ROOT = Path(__file__).resolve().parents[2]
FILES = {"bash": "agentwrap.bash", "zsh": "_agentwrap", "fish": "agentwrap.fish"}
ROOT_COMMAND = typer.main.get_command(build_app())


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_files_match_the_cli(shell):
    committed = (ROOT / "completions" / FILES[shell]).read_text()
    assert committed == script(shell, ROOT_COMMAND), (
        f"completions/{FILES[shell]} drifted from the CLI; regenerate with "
        f"`agentwrap completions {shell} > completions/{FILES[shell]}`"
    )


def test_every_command_and_option_is_in_the_scripts():
    tree = command_tree(ROOT_COMMAND)
    names = [s.path[-1] for s in tree.subcommands]
    assert {"claude", "run", "serve", "log", "sessions"} <= set(names)
    for shell in SHELLS:
        text = script(shell, ROOT_COMMAND)
        for sub in tree.subcommands:
            assert sub.path[-1] in text
            for opt_names, _, _ in sub.options:
                long = [n for n in opt_names if n.startswith("--")]
                for n in long:
                    assert (n if shell != "fish" else f"-l {n[2:]}") in text, (shell, sub.path, n)


def _bash_complete(words: list[str]) -> list[str]:
    path = ROOT / "completions" / FILES["bash"]
    line = " ".join(f"'{w}'" for w in words)
    prog = (
        f"source '{path}'; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        '_agentwrap; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_bash_completes_commands_and_options():
    assert "serve" in _bash_complete(["agentwrap", "se"]) and "sessions" in _bash_complete(
        ["agentwrap", "se"]
    )
    assert _bash_complete(["agentwrap", "serve", "--po"]) == ["--port"]
    assert "--json" in _bash_complete(["agentwrap", "log", "--"])


def test_the_installed_command_prints_the_whole_clis_script():
    # The console script builds only the command a line names; its script must not be that.
    exe = Path(sys.executable).parent / "agentwrap"
    done = subprocess.run([exe, "completions", "bash"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / "completions" / FILES["bash"]).read_text()
