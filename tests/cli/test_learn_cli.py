"""`agentwrap learn status|reset|export|import` through the real typer app and a real store."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentwrap import paths
from agentwrap.cli.main import build_app
from agentwrap.route.learn import HORIZON, ArmKey, Tally
from agentwrap.trace.store import TraceStore

app = build_app()
runner = CliRunner()

PROFILE = """\
extends = "balanced"

# The evidence below is about these model ids (the preset names tiers, newest first).
[models.haiku]
provider = "anthropic"
model = "claude-haiku-4-5"

[models.sonnet]
provider = "anthropic"
model = "claude-sonnet-4-6"

[auto]
candidates = ["haiku", "sonnet", "opus"]
max_failure_rate = 0.1
explore = 0.05

[routing]
plan = "auto"
implement = "auto"
"""

HAIKU = ArmKey("claude", "implement", "claude-haiku-4-5")
SONNET = ArmKey("claude", "implement", "claude-sonnet-4-6")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".agentwrap.toml").write_text(PROFILE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def seed(*tallies: tuple[ArmKey, Tally]) -> None:
    store = TraceStore(paths.trace_db())
    try:
        store.merge_evidence(tallies)
    finally:
        store.close()


def stored() -> dict[ArmKey, Tally]:
    store = TraceStore(paths.trace_db())
    try:
        return dict(store.evidence())
    finally:
        store.close()


def test_status_without_evidence_says_so_and_what_each_kind_gets(repo: Path) -> None:
    result = runner.invoke(app, ["learn", "status"])
    assert result.exit_code == 0, result.output
    assert "learned routing has no evidence yet" in result.output
    assert "what learned routing would choose now (profile .agentwrap.toml" in result.output
    assert (
        "  claude: plan      → opus  routing.plan (none credibly within 10% → opus, "
        "the last candidate: haiku: no outcomes yet (prior ≤ 95%) above 10%"
    ) in result.output
    assert "claude: implement → opus  routing.implement (" in result.output
    # explore is routed to a fixed model by the preset: nothing to learn there.
    assert "explore" not in result.output


def test_status_shows_the_tallies_and_the_choice_they_lead_to(repo: Path) -> None:
    seed((HAIKU, Tally(206, 6, 1, 4, labelled=212)), (SONNET, Tally(20, 0, labelled=20)))
    result = runner.invoke(app, ["learn", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("evidence per agent × step kind × model (the last ~500 steps")
    assert lines[1].split() == [
        "agent",
        "step",
        "model",
        "steps",
        "failures",
        "bound",
        "interr.",
        "unknown",
    ]
    assert lines[2].split() == [
        "claude",
        "implement",
        "claude-haiku-4-5",
        "212",
        "2.8%",
        "5.5%",
        "1",
        "4",
    ]
    assert (
        "claude: implement → haiku  routing.implement (haiku: 2.8% failures (≤ 5.5%, "
        "212 steps) within 10%)"
    ) in result.output
    data = json.loads(runner.invoke(app, ["learn", "status", "--json"]).output)
    assert data["horizon"] == HORIZON
    assert [(t["model"], t["labelled"]) for t in data["tallies"]] == [
        ("claude-haiku-4-5", 212),
        ("claude-sonnet-4-6", 20),
    ]
    implement = next(c for c in data["choices"] if c["step"] == "implement")
    assert implement["choice"] == "haiku" and implement["where"] == "routing.implement"
    assert data["profile"]["name"] == ".agentwrap.toml"


def test_status_shows_short_model_ids_and_a_dash_for_a_rate_it_cannot_tell(repo: Path) -> None:
    # A dated id reads as everywhere else in a table; only interrupted steps: no failure rate.
    dated = ArmKey("claude", "explore", "claude-haiku-4-5-20251001")
    seed((dated, Tally(0, 0, 3, labelled=0)))
    lines = runner.invoke(app, ["learn", "status"]).output.splitlines()
    row = next(line for line in lines if " explore " in line)
    assert row.split()[:3] == ["claude", "explore", "claude-haiku-4-5"]
    assert row.split()[4] == "—"
    data = json.loads(runner.invoke(app, ["learn", "status", "--json"]).output)
    assert any(r["model"] == "claude-haiku-4-5-20251001" for r in data["tallies"])


def test_status_of_a_profile_that_does_not_learn(repo: Path) -> None:
    result = runner.invoke(app, ["learn", "status", "--profile", "balanced"])
    assert result.exit_code == 0
    assert 'profile balanced (preset balanced) has no use = "auto" entry' in result.output


def test_export_then_import_adds_to_what_is_learned_here(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed((HAIKU, Tally(206, 6, 1, 4, labelled=212)))
    out = repo / "team.toml"
    result = runner.invoke(app, ["learn", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = tomllib.loads(out.read_text())
    assert doc["format"] == 1 and doc["horizon"] == HORIZON
    assert doc["tally"] == [
        {
            "agent": "claude",
            "step": "implement",
            "model": "claude-haiku-4-5",
            "successes": 206.0,
            "failures": 6.0,
            "interrupted": 1,
            "unknown": 4,
            "labelled": 212,
        }
    ]
    assert runner.invoke(app, ["learn", "export"]).output == out.read_text()
    # A teammate's store: their own evidence, plus the file.
    monkeypatch.setenv("AGENTWRAP_HOME", str(tmp_path_factory.mktemp("teammate")))
    seed((HAIKU, Tally(10, 2, labelled=12)))
    result = runner.invoke(app, ["learn", "import", str(out)])
    assert result.exit_code == 0, result.output
    assert f"learned routing: added 1 tallies from {out}" in result.output
    assert stored() == {HAIKU: Tally(216, 8, 1, 4, labelled=224)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("format = 2\n", "team.toml:1: format: expected 1"),
        (
            'format = 1\n[[tally]]\nagent = "claude"\nstep = "implement"\nmodel = "m"\n'
            "successes = -1\nfailures = 0\ninterrupted = 0\nunknown = 0\nlabelled = 0\n",
            "team.toml:6: tally[1].successes: expected a number >= 0",
        ),
        (
            'format = 1\n[[tally]]\nagent = "claude"\nstep = "review"\nmodel = "m"\n'
            "successes = 1\nfailures = 0\ninterrupted = 0\nunknown = 0\nlabelled = 1\n",
            "team.toml:4: tally[1].step: unknown step kind 'review'; known: plan, explore",
        ),
        (
            'format = 1\n[[tally]]\nagent = "claude"\nstep = "plan"\nmodel = "m"\n',
            "team.toml:2: tally[1].successes: missing",
        ),
        (
            "format = 1\n[[tally]]\ncolour = 1\n",
            "team.toml:3: unknown key 'tally[1].colour'; expected one of: agent, step, model",
        ),
        ("format = \n", "team.toml: not valid TOML"),
    ],
)
def test_import_errors_name_the_file_line_and_key(repo: Path, text: str, expected: str) -> None:
    (repo / "team.toml").write_text(text)
    result = runner.invoke(app, ["learn", "import", "team.toml"])
    assert result.exit_code == 2
    assert f"agentwrap: {expected}" in result.output
    assert stored() == {}


def test_reset_asks_first_and_forgets(repo: Path) -> None:
    seed((HAIKU, Tally(5, 1, labelled=6)), (SONNET, Tally(3, 0, labelled=3)))
    kept = runner.invoke(app, ["learn", "reset"], input="n\n")
    assert kept.exit_code == 1 and "Forget 2 tallies of learned routing?" in kept.output
    assert len(stored()) == 2
    result = runner.invoke(app, ["learn", "reset", "--yes"])
    assert result.exit_code == 0 and "learned routing: forgot 2 tallies" in result.output
    assert stored() == {}


def test_status_rules_out_the_candidates_dearer_than_the_requested_model_and_shows_the_budget(
    repo: Path,
) -> None:
    (repo / ".agentwrap.toml").write_text(
        PROFILE + '\n[budget]\nsession_usd = 5\non_exceed = "downgrade"\ndowngrade_to = "haiku"\n'
    )
    # Sonnet 4.6 ($3/$15 a million tokens) asked for: the preset's newest Opus ($4/$20) costs
    # more; Sonnet itself costs the same and Haiku 4.5 ($1/$5) less.
    result = runner.invoke(app, ["learn", "status", "--requested", "claude-sonnet-4-6"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    plan = lines.index(next(line for line in lines if line.startswith("  claude: plan")))
    assert "→ sonnet  routing.plan (none credibly within 10% → sonnet" in lines[plan]
    assert lines[plan + 1].strip() == (
        "ruled out, dearer than claude-sonnet-4-6: opus (~$0.1000 vs ~$0.0750)"
    )
    assert (
        "cost limit: a candidate that costs more than the requested model (claude-sonnet-4-6, "
        "for a 20000-token prompt) is ruled out unless its entry says escalate = true"
    ) in result.output
    assert (
        "budget: $5.00 a session; past it, every call goes to haiku (budget.downgrade_to), "
        "whatever learned routing would choose"
    ) in result.output
    # Claude 3 Haiku ($0.25/$1.25) asked for: every candidate costs more; it keeps that model.
    result = runner.invoke(app, ["learn", "status", "--requested", "claude-3-haiku", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["requested"] == {"claude": "claude-3-haiku"} and doc["prompt_tokens"] == 20000
    assert doc["budget"] == {"session_usd": 5.0, "on_exceed": "downgrade", "downgrade_to": "haiku"}
    implement = next(c for c in doc["choices"] if c["step"] == "implement")
    assert (implement["choice"], implement["requested"]) == ("requested", "claude-3-haiku")
    assert implement["reason"] == (
        "every candidate costs more than claude-3-haiku: it keeps claude-3-haiku"
    )
    # $0.25 × 20k + $1.25 × 1k tokens = $0.00625; Haiku 4.5: $1 × 20k + $5 × 1k = $0.025.
    assert implement["ruled_out"][0] == {
        "alias": "haiku",
        "model": "claude-haiku-4-5",
        "cost": "~$0.0250 vs ~$0.0063",
    }
    assert [r["alias"] for r in implement["ruled_out"]] == ["haiku", "sonnet", "opus"]


def test_status_keeps_candidates_of_an_entry_that_escalates(repo: Path) -> None:
    (repo / ".agentwrap.toml").write_text(
        PROFILE
        + '\n[[rules]]\nname = "hard"\nstep = "plan"\nuse = "auto"\ncandidates = ["sonnet"]\n'
        "max_failure_rate = 0.1\nescalate = true\n"
    )
    result = runner.invoke(app, ["learn", "status", "--requested", "claude-haiku-4-5", "--json"])
    assert result.exit_code == 0, result.output
    choices = json.loads(result.output)["choices"]
    hard = next(c for c in choices if c["where"] == "rule 'hard'")
    assert (hard["choice"], hard["ruled_out"]) == ("sonnet", [])
    routed = next(c for c in choices if c["where"] == "routing.implement")
    assert [r["alias"] for r in routed["ruled_out"]] == ["sonnet", "opus"]
    assert routed["choice"] == "haiku"


def test_status_holds_each_agent_to_the_model_it_asks_for(repo: Path) -> None:
    # Gemini CLI asks for the newest Gemini Pro of the bundled table (gemini-3.1-pro-preview,
    # $2/$12 a million tokens for a small call: $0.0520 for 20k in and 1k out); Sonnet 4.6
    # ($0.0750) and Opus 5.5 ($0.1000) cost more than that, not more than Claude Code's Opus.
    result = runner.invoke(app, ["learn", "status", "--agent", "claude", "--agent", "gemini"])
    assert result.exit_code == 0, result.output
    assert (
        "cost limit: a candidate that costs more than the requested model (claude: "
        "claude-opus-5-5; gemini: gemini-3.1-pro-preview, for a 20000-token prompt)"
    ) in result.output
    doc = json.loads(
        runner.invoke(
            app, ["learn", "status", "--agent", "claude", "--agent", "gemini", "--json"]
        ).output
    )
    assert doc["requested"] == {"claude": "claude-opus-5-5", "gemini": "gemini-3.1-pro-preview"}
    for c in doc["choices"]:
        dearer = [(r["alias"], r["cost"]) for r in c["ruled_out"]]
        if c["agent"] == "claude":
            assert dearer == [], c
        else:
            assert dearer == [
                ("sonnet", "~$0.0750 vs ~$0.0520"),
                ("opus", "~$0.1000 vs ~$0.0520"),
            ], c
