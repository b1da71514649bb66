"""`agentwrap agents [--json]` on a machine with some agents installed and some not.

The installed agents are stand-in scripts in tmp that print a version the way the real ones
do; PATH holds only their folder, so every other registered agent is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from agentwrap.agents import registry
from agentwrap.cli.agents import survey
from tests.support.agent_cli import agentwrap_exe

# Each stand-in marks that it started, then waits (boundedly) until every other one has:
# asked one after the other instead of in parallel, the first would give up waiting.
STAND_IN = """#!/bin/sh
: > "{dir}/{name}.started"
i=0
while [ $i -lt 400 ]; do
  all=1
  for other in {names}; do [ -e "{dir}/$other.started" ] || all=0; done
  [ $all = 1 ] && break
  /bin/sleep 0.05
  i=$((i + 1))
done
echo '{output}'
"""


def stand_ins(tmp_path: Path, outputs: dict[str, str]) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, output in outputs.items():
        script = bin_dir / name
        script.write_text(
            STAND_IN.format(dir=tmp_path, name=name, names=" ".join(outputs), output=output)
        )
        script.chmod(0o755)
    return bin_dir


def test_agents_json_reports_installed_and_missing_agents(tmp_path):
    bin_dir = stand_ins(tmp_path, {"claude": "2.1.332 (Claude Code)", "codex": "codex-cli 0.100.0"})
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [agentwrap_exe(), "agents", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert list(rows) == [agent.name for agent in registry.agents()]  # every registered agent
    claude, codex, gemini = rows["claude"], rows["codex"], rows["gemini"]
    assert claude["installed"] is True and claude["path"] == str(bin_dir / "claude")
    assert claude["version"] == "2.1.332" and claude["version_problem"] is None
    assert claude["tested"] == registry.get("claude").tested
    assert codex["version"] == "0.100.0" and codex["compared"] == "older"
    assert gemini["installed"] is False and gemini["path"] is None and gemini["version"] is None
    assert gemini["install"] == "npm install -g @google/gemini-cli"
    assert (claude["api"], codex["api"], gemini["api"]) == (
        "anthropic",
        "openai-responses",
        "gemini",
    )
    assert "ANTHROPIC_BASE_URL" in claude["wiring"]
    assert "GOOGLE_GEMINI_BASE_URL" in gemini["wiring"]
    assert any("model_provider" in w for w in codex["wiring"])
    assert claude["binary_env"] == "AGENTWRAP_CLAUDE_BIN"


def test_agents_table_names_versions_and_install_commands(tmp_path):
    bin_dir = stand_ins(tmp_path, {"gemini": "0.99.1"})
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "COLUMNS": "250", "LANG": "C.UTF-8"}
    done = subprocess.run(
        [agentwrap_exe(), "agents"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    gemini_line = next(
        line for line in done.stdout.splitlines() if line.strip().startswith("gemini")
    )
    tested = registry.get("gemini").tested
    assert "0.99.1" in gemini_line and f"{tested} (yours is newer)" in gemini_line
    assert str(bin_dir / "gemini") in gemini_line
    claude_line = next(
        line for line in done.stdout.splitlines() if line.strip().startswith("claude")
    )
    assert "not installed" in claude_line
    # Where it is not: a missing value is an em dash, as in every other table.
    assert claude_line.rstrip().endswith(" —") and not claude_line.rstrip().endswith("-")
    assert "claude: npm install -g @anthropic-ai/claude-code" in done.stdout


def test_a_silent_or_hanging_agent_costs_only_its_own_version(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text("#!/bin/sh\nexec /bin/sleep 30\n")
    (bin_dir / "codex").write_text("#!/bin/sh\necho 'unknown option' >&2\nexit 2\n")
    (bin_dir / "gemini").write_text("#!/bin/sh\necho 0.61.0\n")
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    rows = {r.name: r for r in survey({"PATH": str(bin_dir)}, timeout=1.0)}
    assert rows["claude"].installed and rows["claude"].version is None
    assert rows["claude"].version_problem == "no answer to --version within 1 s"
    assert rows["codex"].version_problem == "--version exited 2 without a version"
    assert rows["gemini"].version == "0.61.0" and rows["gemini"].compared in (
        "as tested",
        "newer",
        "older",
    )


def test_binary_override_is_the_reported_path(tmp_path):
    exe = tmp_path / "my-claude"
    exe.write_text("#!/bin/sh\necho '2.1.197 (Claude Code)'\n")
    exe.chmod(0o755)
    rows = {r.name: r for r in survey({"PATH": "", "AGENTWRAP_CLAUDE_BIN": str(exe)}, 5.0)}
    assert rows["claude"].path == str(exe) and rows["claude"].version == "2.1.197"


def test_at_80_columns_the_wiring_goes_under_the_table_with_no_name_cut(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    shown = {}
    for columns in ("80", "120"):
        done = subprocess.run(
            [agentwrap_exe(), "agents"],
            env={**env, "COLUMNS": columns},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        shown[columns] = done.stdout
    header = next(line for line in shown["80"].splitlines() if line.split()[:1] == ["agent"])
    assert "wired through" not in header
    assert "How a launch points each agent at agentwrap:" in shown["80"]
    words = shown["80"].split()
    for agent in registry.agents():
        for entry in agent.wiring:
            # Every name of the wiring whole (it was folded mid-name: GOOGLE_GEMINI_BASE / _URL).
            assert all(word in words for word in entry.split()), (agent.name, entry)
    header = next(line for line in shown["120"].splitlines() if line.split()[:1] == ["agent"])
    assert "wired through" in header
    assert "How a launch points" not in shown["120"]
