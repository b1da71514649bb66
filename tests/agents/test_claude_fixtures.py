"""The committed Claude Code captures (tests/fixtures/claude/) are well-formed and labelled.

Fast: no CLI is run. tests/e2e/test_claude_captures.py checks fresh captures from the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.claude_env import CLAUDE_VERSION
from tests.support.claude_markers import markers, missing_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude"
STEP_KINDS = {"plan", "explore", "implement", "subagent", "background", "compact", "search"}
FILES = sorted(FIXTURES.glob("*.json"))
# Captures of an older release kept because the pinned one no longer makes that request here:
# 2.1.332 sent no session-title call through a base URL.
KEPT_FROM_OLDER = {"background-interactive.json": "2.1.197"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_step_kind_has_a_capture() -> None:
    assert {load(p)["label"] for p in FILES} == STEP_KINDS


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_is_well_formed(path: Path) -> None:
    record = load(path)
    assert set(record) >= {"label", "scenario", "headers", "body"}
    assert record["label"] in STEP_KINDS
    assert path.name == f"{record['label']}-{record['scenario']}.json"
    version = KEPT_FROM_OLDER.get(path.name, CLAUDE_VERSION)
    assert record["claude_version"] == version
    assert record["method"] == "POST" and record["path"].startswith("/v1/messages")
    headers, body = record["headers"], record["body"]
    assert all(name == name.lower() for name in headers)
    assert headers["user-agent"].startswith(f"claude-cli/{version} ")
    assert headers["anthropic-version"] == "2023-06-01"
    assert body["stream"] is True
    assert isinstance(body["model"], str) and body["messages"]
    # The body is whole: its JSON size matches what the CLI declared it sent, give or take
    # the placeholder paths and JSON spacing.
    sent = int(headers["content-length"])
    kept = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    assert abs(sent - kept) < 0.02 * sent + 200


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_has_no_machine_paths(path: Path) -> None:
    text = path.read_text()
    checkout = str(Path(__file__).resolve().parents[2])
    for leftover in (checkout, "cc-capture-", str(Path.home()) + "/"):
        assert leftover not in text
    assert "/repo" in text or record_is_context_free(load(path))


def record_is_context_free(record: dict) -> bool:
    """Title and web-search calls carry no working directory at all."""
    return record["label"] in {"background", "search"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_shows_the_markers_of_its_step_kind(path: Path) -> None:
    record = load(path)
    assert missing_for(record["label"], record["headers"], record["body"]) == []


def test_markers_tell_the_step_kinds_apart() -> None:
    # No capture shows the full marker set of another kind it is not: the markers are usable.
    records = [load(p) for p in FILES]
    for record in records:
        for kind in STEP_KINDS - {record["label"]}:
            if missing_for(kind, record["headers"], record["body"]) == []:
                pytest.fail(f"{record['scenario']} ({record['label']}) also looks like {kind}")


def test_plan_mode_left_is_seen_as_exited() -> None:
    record = load(FIXTURES / "implement-plan-mode-toggled.json")
    found = markers(record["headers"], record["body"])
    assert "plan-mode:exited" in found and "plan-mode:active" not in found
    assert "Plan mode is active." in json.dumps(record["body"])  # the old note is still there
