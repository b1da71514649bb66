"""`agentwrap route explain` on real Claude Code captures and hand-made requests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentwrap import paths
from agentwrap.cli.main import build_app
from agentwrap.route.learn import ArmKey, Tally
from agentwrap.route.profile import parse_profile_text
from agentwrap.trace.store import TraceStore

app = build_app()
runner = CliRunner()
CAPTURES = sorted((Path(__file__).parent.parent / "fixtures" / "claude").glob("*.json"))
KEYS = {"step", "evidence", "rule", "model", "provider", "reason", "fallbacks"}
# The balanced preset names tiers; these are the ids they resolve to in the price table.
BALANCED = parse_profile_text('extends = "balanced"\n', env={}).models
OPUS, HAIKU = BALANCED["opus"].model, BALANCED["haiku"].model


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_explain_json_on_every_capture(path: Path) -> None:
    label = json.loads(path.read_text())["label"]
    result = runner.invoke(app, ["route", "explain", str(path), "--profile", "balanced", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == KEYS
    assert data["step"] == label
    assert data["provider"] == "anthropic"
    assert data["reason"].startswith(data["rule"])
    for fallback in data["fallbacks"]:
        assert set(fallback) == {"alias", "model", "provider"}


def test_explain_text_with_profile_file_and_fallbacks(in_tmp: Path) -> None:
    (in_tmp / ".agentwrap.toml").write_text(
        'extends = "balanced"\n'
        '[providers.fast]\napi = "anthropic"\nbase_url = "http://127.0.0.1:9"\nkey_env = "FAST_KEY_X"\n'
        '[models.flash]\nprovider = "fast"\nmodel = "glm-5.1"\n'
        '[routing]\nexplore = "flash"\n[fallbacks]\nflash = ["haiku"]\n'
    )
    explore = next(p for p in CAPTURES if p.stem == "explore-explore")
    result = runner.invoke(app, ["route", "explain", str(explore)], env={"FAST_KEY_X": "k"})
    assert result.exit_code == 0, result.output
    rows = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert rows["step"] == "explore"
    assert rows["rule"] == "routing.explore"
    assert rows["model"] == "glm-5.1  (flash)"
    assert rows["provider"].startswith("fast  anthropic  http://127.0.0.1:9")
    assert rows["fallbacks"].startswith(f"haiku ({HAIKU} on anthropic)")
    # Without the key the provider is skipped, visibly.
    result = runner.invoke(
        app, ["route", "explain", str(explore), "--json"], env={"FAST_KEY_X": ""}
    )
    data = json.loads(result.stdout)
    assert data["model"] == HAIKU
    assert "skipped flash: provider fast is unavailable (FAST_KEY_X is not set)" in data["reason"]


def test_bare_body_with_headers_file(in_tmp: Path) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 32000,
        "system": [{"type": "text", "text": "You are a file search specialist for Claude Code."}],
        "tools": [{"name": "Grep", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "find it"}],
    }
    (in_tmp / "req.json").write_text(json.dumps(body))
    (in_tmp / "h.json").write_text(json.dumps({"X-Claude-Code-Agent-Id": "a7"}))
    args = ["route", "explain", "req.json", "--agent", "claude", "--profile", "balanced", "--json"]
    without = json.loads(runner.invoke(app, args).stdout)
    assert without["step"] == "implement" and "(default)" in without["evidence"]
    with_headers = json.loads(runner.invoke(app, [*args, "--headers", "h.json"]).stdout)
    assert with_headers["step"] == "explore"
    assert with_headers["evidence"].startswith("header x-claude-code-agent-id")


def test_route_override_and_budget(in_tmp: Path) -> None:
    (in_tmp / ".agentwrap.toml").write_text(
        'extends = "balanced"\n[budget]\nsession_usd = 1\non_exceed = "stop"\n'
    )
    plan = next(p for p in CAPTURES if p.stem == "plan-plan-mode")
    data = json.loads(
        runner.invoke(
            app, ["route", "explain", str(plan), "--route", "plan=haiku", "--json"]
        ).stdout
    )
    assert (data["rule"], data["model"]) == ("--route plan=haiku", HAIKU)
    result = runner.invoke(app, ["route", "explain", str(plan), "--cost-so-far", "2"])
    assert "budget      stop: the call would not be sent" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json"], "cannot read request"),
        (["bad.json"], "is not valid JSON"),
        (["ok.json", "--agent", "vim"], "unknown agent 'vim'; known: claude, codex, gemini"),
        (["ok.json", "--route", "plan"], "--route expects STEP=MODEL, got 'plan'"),
        (["ok.json", "--profile", "nope"], "unknown preset 'nope'"),
    ],
)
def test_errors_exit_2_without_traceback(in_tmp: Path, args: list[str], message: str) -> None:
    (in_tmp / "bad.json").write_text("{not json")
    (in_tmp / "ok.json").write_text('{"model": "m", "max_tokens": 10, "messages": []}')
    result = runner.invoke(app, ["route", "explain", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_installed_script_json(agentwrap_bin: str, in_tmp: Path) -> None:
    search = next(p for p in CAPTURES if p.stem == "search-websearch")
    proc = subprocess.run(
        [agentwrap_bin, "route", "explain", str(search), "--profile", "frugal", "--json"],
        cwd=in_tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["step"] == "search" and data["provider"] == "anthropic"
    assert "DEEPSEEK_API_KEY" in proc.stderr  # the missing-key warning goes to stderr


def test_request_from_stdin() -> None:
    explore = next(p for p in CAPTURES if p.stem == "explore-explore")
    result = runner.invoke(app, ["route", "explain", "-", "--json"], input=explore.read_text())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == "explore"


def test_explain_learned_routing_from_what_was_learned_here(in_tmp: Path) -> None:
    (in_tmp / ".agentwrap.toml").write_text(
        'extends = "balanced"\n[routing]\n'
        'implement = { use = "auto", candidates = ["haiku", "opus"], max_failure_rate = 0.1, '
        "explore = 0.2 }\n"
    )
    main = next(p for p in CAPTURES if json.loads(p.read_text())["label"] == "implement")
    args = ["route", "explain", str(main), "--json"]
    # Nothing learned: the last candidate, every time (an explanation never explores).
    for _ in range(20):
        data = json.loads(runner.invoke(app, args).stdout)
        assert data["model"] == OPUS
    store = TraceStore(paths.trace_db())
    try:
        store.merge_evidence([(ArmKey("claude", "implement", HAIKU), Tally(300, 3))])
    finally:
        store.close()
    for _ in range(20):
        data = json.loads(runner.invoke(app, args).stdout)
        assert data["model"] == HAIKU
    assert "auto: haiku: 1.0% failures (≤ 2.5%, 303 steps) within 10%" in data["reason"]


def test_a_gemini_request_shows_the_model_its_path_names(in_tmp: Path) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "fix the tests"}]}]}
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    (in_tmp / "body.json").write_text(json.dumps(body))
    (in_tmp / "capture.json").write_text(json.dumps({"path": path, "body": body}))

    def explain(*args: str) -> dict:
        result = runner.invoke(app, ["route", "explain", *args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert explain("capture.json")["model"] == "gemini-2.5-flash"
    assert explain("body.json", "--path", path)["model"] == "gemini-2.5-flash"
    assert (
        explain("body.json", "--path", f"http://127.0.0.1:9{path}")["model"] == "gemini-2.5-flash"
    )
    # A bare body has no path: the text says where the model would be, not "None".
    result = runner.invoke(app, ["route", "explain", "body.json", "--agent", "gemini"])
    model = next(line for line in result.stdout.splitlines() if line.startswith("model"))
    assert "None" not in model and "give --path" in model
    # Nothing to fall back to and no baseline known: an em dash, as every view writes a gap.
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert lines["fallbacks"].strip() == "—" and lines["baseline"].strip() == "—"
