"""The project's own files agree with each other: CI runs the README's test command, the gate
runs style and type checks before the tests, and the version is written in one place."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import agentwrap

ROOT = Path(__file__).resolve().parent.parent


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines()]
    found = [c for c in commands if c.startswith("./install.sh --dev &&")]
    assert len(found) == 1, f"the README should give one test command, found {found}"
    return found[0]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_test_command() in ci


def test_the_gate_checks_style_and_types_before_the_tests():
    gate = (ROOT / "check.sh").read_text()
    order = [
        gate.index(step) for step in ('ruff" check', 'ruff" format --check', 'mypy"', 'pytest "$@"')
    ]
    assert order == sorted(order)
    assert "set -euo pipefail" in gate  # a failing step stops the gate


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("agentwrap") == agentwrap.__version__


def test_license_is_an_spdx_expression_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_every_file_the_architecture_page_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`([\w/{},.*<>-]+\.(?:py|toml|md))`", text))
    named |= {f"agentwrap/{m}" for m in re.findall(r"\b((?:proxy|wire|route|trace)/\w+\.py)", text)}
    missing = []
    for name in sorted(named):
        if "<" in name or "*" in name:
            continue
        for path in _expand(name):
            candidates = [ROOT / path, ROOT / "agentwrap" / path]
            if not any(c.exists() for c in candidates):
                missing.append(path)
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def _expand(name: str) -> list[str]:
    match = re.search(r"\{([^}]*)\}", name)
    if not match:
        return [name]
    return [
        expanded
        for part in match.group(1).split(",")
        for expanded in _expand(name[: match.start()] + part + name[match.end() :])
    ]


def test_the_full_run_deselects_nothing():
    # The fast lane leaves out e2e, tmux and slow by its -m; the README's command runs them all.
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert "-m" not in str(options["ini_options"].get("addopts", "")).split()
    runs = [ln for ln in (ROOT / "check.sh").read_text().splitlines() if " -m pytest" in ln]
    assert runs == ['"$bin/python" -m pytest "$@"']  # only the caller's arguments
