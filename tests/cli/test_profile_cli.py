"""`agentwrap profile init|show|check` through the real typer app and the installed script."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentwrap.cli.main import build_app
from agentwrap.cli.profile import show_document
from agentwrap.route.profile import load_profile, preset_names

app = build_app()
runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    for var in ("DEEPSEEK_API_KEY", "ZAI_API_KEY", "MOONSHOT_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.mark.parametrize("preset", preset_names())
def test_init_writes_a_profile_that_loads_as_its_preset(repo: Path, preset: str) -> None:
    result = runner.invoke(app, ["profile", "init", "--preset", preset])
    assert result.exit_code == 0, result.output
    written = repo / ".agentwrap.toml"
    text = written.read_text()
    assert f'extends = "{preset}"' in text
    assert "# [budget]" in text and "# [[rules]]" in text
    (repo / "sub").mkdir()
    mine = load_profile(repo / "sub", env={}, translation=True)
    base = load_profile(explicit=preset, env={}, translation=True)
    assert mine.source == str(written.resolve())
    assert mine.routing == base.routing
    assert runner.invoke(app, ["profile", "check"]).exit_code == 0


def test_init_refuses_to_overwrite_without_force(repo: Path) -> None:
    (repo / ".agentwrap.toml").write_text("# mine\n")
    result = runner.invoke(app, ["profile", "init"])
    assert result.exit_code == 2
    assert "already exists; use --force" in result.output
    assert (repo / ".agentwrap.toml").read_text() == "# mine\n"
    assert runner.invoke(app, ["profile", "init", "--force"]).exit_code == 0
    assert 'extends = "balanced"' in (repo / ".agentwrap.toml").read_text()


def test_init_unknown_preset(repo: Path) -> None:
    result = runner.invoke(app, ["profile", "init", "--preset", "cheap"])
    assert result.exit_code == 2
    assert "unknown preset 'cheap'; known: balanced, frontier, frugal, passthrough" in result.output
    assert not (repo / ".agentwrap.toml").exists()


def test_show_names_where_each_value_came_from(repo: Path) -> None:
    (repo / ".agentwrap.toml").write_text('extends = "balanced"\n\n[routing]\nexplore = "sonnet"\n')
    result = runner.invoke(app, ["profile", "show", "--route", "background=opus"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    explore = next(line for line in lines if line.startswith("# routing.explore from "))
    assert explore.endswith(".agentwrap.toml:4")
    assert next(x for x in lines if x.startswith("# routing.plan ")).startswith(
        "# routing.plan from preset balanced:"
    )
    assert "# routing.background from --route (this run)" in lines
    assert any(
        line.startswith("# rules[1] from preset balanced:")
        and line.endswith(
            " — requested-after-failure: when step implement, last step failed → requested "
            "(tried in order)"
        )
        for line in lines
    )
    assert "# baseline from built-in default" in lines
    # Each tier says which model it resolved to, and why.
    sonnet = next(line for line in lines if line.startswith("# models.sonnet from "))
    assert " — tier sonnet: claude-sonnet-" in sonnet
    assert ", the newest sonnet of anthropic in the price table; older: " in sonnet
    shown = tomllib.loads(result.output)
    assert shown["routing"]["explore"] == "sonnet" and shown["routing"]["background"] == "opus"
    assert shown["routing"]["plan"] == "requested"
    assert shown["models"]["sonnet"]["model"].startswith("claude-sonnet-")


@pytest.mark.parametrize("preset", ["balanced", "frontier", "frugal", "passthrough"])
def test_show_parses_back_to_the_same_effective_profile(repo: Path, preset: str) -> None:
    (repo / ".agentwrap.toml").write_text(
        f'extends = "{preset}"\n'
        "[auto]\n"
        'candidates = ["cheap", "top"]\n'
        "max_failure_rate = 0.1\n"
        "[models.cheap]\n"
        'provider = "anthropic"\n'
        'tier = "haiku"\n'
        "price = { input = 0.5, output = 2.5, cache_read = 0.05 }\n"
        "[models.top]\n"
        'provider = "anthropic"\n'
        'model = "claude-opus-4-8"\n'
        'capabilities = ["tools", "vision"]\n'
        "[routing]\n"
        'implement = "auto"\n'
        "[[rules]]\n"
        'name = "long"\n'
        "tokens_above = 150000\n"
        'subagent = ["Explore", "Plan"]\n'
        'use = "top"\n'
        "escalate = true\n"
        "[budget]\n"
        "session_usd = 3\n"
    )
    env = {"DEEPSEEK_API_KEY": "k"}
    result = runner.invoke(app, ["profile", "show", "--route", "plan=cheap"], env=env)
    assert result.exit_code == 0, result.output
    shown = tomllib.loads(result.output)
    effective = load_profile(repo, env=env, routes={"plan": "cheap"}, translation=True)
    assert shown == show_document(effective)
    # Loaded as a profile of its own, it is the same effective profile.
    (repo / "shown.toml").write_text(result.output)
    again = load_profile(repo, explicit="shown.toml", env=env, translation=True)
    assert show_document(again) == shown
    assert again.routing == {**effective.routing, "plan": "cheap"}
    assert again.auto == effective.auto and again.rules == effective.rules


def test_show_json(repo: Path) -> None:
    result = runner.invoke(app, ["profile", "show", "--profile", "frugal", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["routing"]["implement"]["use"] == "deepseek-pro"
    assert data["routing"]["implement"]["from"].startswith("preset frugal:")
    assert data["providers"]["deepseek"]["key_present"] is False
    assert data["budget"] == {
        "session_usd": 5.0,
        "on_exceed": "downgrade",
        "downgrade_to": "deepseek-flash",
    }


def test_check_lists_keys_present_and_missing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_API_KEY", "z")
    result = runner.invoke(app, ["profile", "check", "--profile", "frugal"])
    assert result.exit_code == 0, result.output
    rows = {
        line.split()[1]: line
        for line in result.output.splitlines()
        if line.startswith("  provider")
    }
    assert "key DEEPSEEK_API_KEY MISSING" in rows["deepseek"]
    assert "key ZAI_API_KEY present" in rows["zai"]
    assert "the agent's own credentials" in rows["anthropic"]
    assert "defined, not routed" in rows["local"]
    assert "warning: provider 'deepseek' is skipped: DEEPSEEK_API_KEY is not set" in result.output
    assert "provider 'zai'" not in result.output.split("warning:", 1)[1]


def test_check_fails_cleanly_on_a_broken_profile(repo: Path) -> None:
    (repo / ".agentwrap.toml").write_text('extends = "balanced"\n[routing]\nimplement = "glm"\n')
    result = runner.invoke(app, ["profile", "check"])
    assert result.exit_code == 2
    assert (
        ".agentwrap.toml:3: unknown model alias 'glm' in routing.implement; known: requested, opus, sonnet, haiku"
        in result.output
    )
    assert "Traceback" not in result.output


def test_installed_script_reports_errors_without_traceback(repo: Path, agentwrap_bin: str) -> None:
    (repo / ".agentwrap.toml").write_text(
        "[models.x]\nprovider = 'anthropic'\nmodel = 'm'\nprice = 3\n"
    )
    proc = subprocess.run(
        [agentwrap_bin, "profile", "check"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        ".agentwrap.toml:4: models.x.price: expected a table, got an integer"
    )
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("preset", ["balanced", "frugal", "frontier"])
def test_uncommenting_every_example_of_init_gives_a_valid_profile(repo: Path, preset: str) -> None:
    assert runner.invoke(app, ["profile", "init", "--preset", preset]).exit_code == 0
    path = repo / ".agentwrap.toml"
    example = re.compile(r"^# (\[|[a-z_]+ = )")
    lines = [line[2:] if example.match(line) else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    profile = load_profile(repo, env={"DEEPSEEK_API_KEY": "k"}, translation=True)
    assert profile.models["flash"].model == "deepseek-v4-flash"
    assert profile.rules[0].name == "escalate-after-failure"
    assert profile.budget is not None and profile.sticky_calls == 8


def test_show_says_what_learned_routing_will_do(repo: Path) -> None:
    (repo / ".agentwrap.toml").write_text(
        'extends = "balanced"\n'
        "[auto]\n"
        'candidates = ["haiku", "sonnet", "opus"]\n'
        "max_failure_rate = 0.1\n"
        "explore = 0.05\n"
        "[routing]\n"
        'plan = "auto"\n'
        'implement = { use = "auto", candidates = ["sonnet", "opus"], max_failure_rate = 0.05 }\n'
    )
    text = runner.invoke(app, ["profile", "show"]).output
    assert (
        " — auto: the cheapest of haiku, sonnet, opus within 10% failures "
        "(plan never explores, prior 1 failure / 1 success)"
    ) in next(line for line in text.splitlines() if line.startswith("# routing.plan from "))
    assert (
        " — auto: the cheapest of sonnet, opus within 5% failures (explore 5%, "
        "prior 1 failure / 1 success)"
    ) in next(line for line in text.splitlines() if line.startswith("# routing.implement "))
    assert tomllib.loads(text)["routing"]["implement"] == {
        "use": "auto",
        "candidates": ["sonnet", "opus"],
        "max_failure_rate": 0.05,
        "explore": 0.05,
        "prior": {"failures": 1.0, "successes": 1.0},
    }
    data = json.loads(runner.invoke(app, ["profile", "show", "--json"]).output)
    implement = data["routing"]["implement"]
    assert implement["use"] == "auto"
    assert implement["auto"] == {
        "candidates": ["sonnet", "opus"],
        "max_failure_rate": 0.05,
        "explore": 0.05,
        "prior": {"failures": 1.0, "successes": 1.0},
    }
    assert "auto" not in data["routing"]["explore"]


def test_check_counts_the_provider_of_every_agents_own_api_as_routed(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Codex speaks the Responses API: its calls go to the openai provider of config.toml.
    from agentwrap import paths

    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(
        '[providers.openai]\napi = "openai-responses"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    result = runner.invoke(app, ["profile", "check", "--profile", "frugal"])
    assert result.exit_code == 0, result.output
    rows = {
        line.split()[1]: line
        for line in result.output.splitlines()
        if line.startswith("  provider")
    }
    assert "openai-responses  routed " in rows["openai"]
    # A provider no agent's calls and no step reach is still said to be unused.
    assert "defined, not routed" in rows["local"]


def test_the_readmes_provider_override_example_loads_as_it_says(repo: Path) -> None:
    from agentwrap import paths

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = re.search(r"```toml\n# ~/.config/agentwrap/config.toml\n(.*?)```", readme, re.S)
    assert example is not None, "the README shows a config.toml that overrides providers"
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(example.group(1))
    result = runner.invoke(app, ["profile", "check"], env={"GATEWAY_KEY": "k"})
    assert result.exit_code == 0, result.output
    rows = {
        line.split()[1]: line
        for line in result.output.splitlines()
        if line.startswith("  provider")
    }
    assert "https://gateway.example.com receives key GATEWAY_KEY present" in rows["anthropic"]
    assert "routed" in rows["openai"] and "(forward_agent_key)" in rows["openai"]
