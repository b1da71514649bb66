"""Codex CLI step markers, on requests shaped like the ones Codex 0.169 sends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentwrap.agents import codex_hints
from agentwrap.route.classify import classify, detect_agent
from agentwrap.wire.call import Call


def metadata(**extra: Any) -> str:
    doc = {
        "session_id": "s-1",
        "thread_id": "s-1",
        "agent_name": "/root",
        "turn_id": "t-1",
        "request_kind": "turn",
        "turn_trigger": "exec",
    }
    doc.update(extra)
    return json.dumps(doc)


def codex_call(
    headers: dict[str, str] | None = None, *, meta: str | None = None, **body: Any
) -> Call:
    base = {
        "originator": "codex_exec",
        "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) unknown (codex_exec; 0.169.0)",
        "session-id": "s-1",
        "x-codex-turn-metadata": metadata() if meta is None else meta,
    }
    base.update(headers or {})
    doc = {
        "model": "gpt-5.5",
        "stream": True,
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
        "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}],
    }
    doc.update(body)
    return Call(
        "openai-responses", "responses", doc, {k: v for k, v in base.items() if v is not None}
    )


def test_a_turn_is_the_main_loop_implement_step() -> None:
    step = classify(codex_call(), agent="codex")
    assert (step.kind, step.main_loop, step.matched) == ("implement", True, True)
    assert "request_kind=turn" in step.evidence


def test_compaction_request_kind_is_compact() -> None:
    step = classify(codex_call(meta=metadata(request_kind="compaction")), agent="codex")
    assert step.kind == "compact" and step.main_loop
    assert "request_kind=compaction" in step.evidence


def test_subagent_header_is_a_subagent_with_its_type() -> None:
    step = classify(codex_call({"x-openai-subagent": "review"}), agent="codex")
    assert (step.kind, step.subagent_type, step.main_loop) == ("subagent", "review", False)
    assert "x-openai-subagent: review" in step.evidence


@pytest.mark.parametrize(
    ("value", "kind"),
    [("compact", "compact"), ("memory_consolidation", "background"), ("thread_spawn", "subagent")],
)
def test_subagent_header_values(value: str, kind: str) -> None:
    assert classify(codex_call({"x-openai-subagent": value}), agent="codex").kind == kind


def test_compaction_inside_a_subagent_is_not_the_main_loop() -> None:
    call = codex_call({"x-openai-subagent": "review"}, meta=metadata(request_kind="compaction"))
    step = classify(call, agent="codex")
    assert step.kind == "compact" and not step.main_loop
    assert "review" in step.evidence


def test_spawned_agent_name_marks_a_subagent_without_the_header() -> None:
    step = classify(codex_call(meta=metadata(agent_name="/root/worker")), agent="codex")
    assert (step.kind, step.subagent_type) == ("subagent", "/root/worker")


def test_unreadable_metadata_falls_back_to_the_default_and_says_so() -> None:
    step = classify(codex_call(meta="not json"), agent="codex")
    assert step.kind == "implement" and not step.matched
    assert "default" in step.evidence
    assert codex_hints.turn_metadata(codex_call(meta="[1, 2]")) == {}


def test_detect_agent_recognises_codex_by_its_headers() -> None:
    assert detect_agent(codex_call()) == "codex"
    # The interactive client calls itself codex-tui; other clients use other codex_* names.
    for originator in ("codex-tui", "codex_cli_rs"):
        only_originator = Call("openai-responses", "responses", {}, {"originator": originator})
        assert detect_agent(only_originator) == "codex"
    only_metadata = Call("openai-responses", "responses", {}, {"x-codex-turn-metadata": metadata()})
    assert detect_agent(only_metadata) == "codex"


def test_a_plain_openai_sdk_request_is_not_codex() -> None:
    call = Call(
        "openai-responses",
        "responses",
        {"model": "gpt-5.5", "input": "hi"},
        {"user-agent": "OpenAI/Python 2.8.0", "authorization": "Bearer x"},
    )
    assert detect_agent(call) is None
    assert codex_hints.classify(call) is None
    # Without agent hints the generic default applies.
    assert classify(call).matched is False


def test_codex_hints_ignore_other_apis() -> None:
    call = Call("anthropic", "messages", {"messages": []}, {"originator": "codex_exec"})
    assert codex_hints.classify(call) is None


def test_detection_without_an_agent_name_picks_codex_hints() -> None:
    step = classify(codex_call(meta=metadata(request_kind="compaction")))
    assert step.kind == "compact"


TITLE_FORMAT = {
    "verbosity": "low",
    "format": {
        "type": "json_schema",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"title": {"type": "string", "maxLength": 36}},
            "required": ["title"],
        },
        "name": "codex_output_schema",
    },
}


def test_interactive_title_call_is_background() -> None:
    call = codex_call(
        {"originator": "codex-tui"}, meta=metadata(thread_source="thread_title"), text=TITLE_FORMAT
    )
    step = classify(call, agent="codex")
    assert step.kind == "background" and not step.main_loop
    assert "thread_title" in step.evidence
    # The schema alone is enough when the metadata does not say so.
    step = classify(codex_call(meta=metadata(thread_source="user"), text=TITLE_FORMAT))
    assert step.kind == "background" and "title" in step.evidence


def test_a_turn_that_asks_for_structured_output_is_not_a_title() -> None:
    text = {"format": {"type": "json_schema", "schema": {"properties": {"title": {}, "body": {}}}}}
    assert classify(codex_call(text=text), agent="codex").kind == "implement"
