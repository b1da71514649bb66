"""Gemini CLI step markers, on requests shaped like the ones Gemini CLI 0.61 sends."""

from __future__ import annotations

from typing import Any

import pytest

from agentwrap.agents import gemini_hints
from agentwrap.route.classify import classify, detect_agent
from agentwrap.wire.call import ANTHROPIC, GEMINI, Call

USER_AGENT = "GeminiCLI-tui/0.61.0/gemini-3.1-pro-preview (linux; x64; terminal)"
MAIN_SYSTEM = (
    "You are Gemini CLI, an autonomous CLI agent specializing in software engineering tasks."
)
ROUTER_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "complexity_reasoning": {"type": "STRING"},
        "complexity_score": {"type": "INTEGER"},
    },
    "required": ["complexity_reasoning", "complexity_score"],
}


def functions(*names: str) -> list[dict[str, Any]]:
    return [{"functionDeclarations": [{"name": n, "description": n} for n in names]}]


def gemini_call(
    endpoint: str = "stream_generate",
    *,
    system: str = MAIN_SYSTEM,
    user_agent: str = USER_AGENT,
    model: str = "gemini-3.8-flash",
    **body: Any,
) -> Call:
    doc: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "list the files"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": system}]},
        "generationConfig": {"temperature": 1, "topP": 0.95, "topK": 64},
    }
    doc.update(body)
    headers = {
        "user-agent": user_agent,
        "x-goog-api-client": "google-genai-sdk/1.30.0 gl-node/v20.20.2",
        "x-goog-api-key": "k",
    }
    return Call(GEMINI, endpoint, doc, headers, path_model=model)


def test_detects_gemini_cli_by_its_user_agent():
    assert gemini_hints.is_gemini_cli(gemini_call())
    assert detect_agent(gemini_call()) == "gemini"
    plain_sdk = gemini_call(user_agent="google-genai-sdk/1.30.0 gl-node/v20.20.2")
    assert not gemini_hints.is_gemini_cli(plain_sdk)
    assert detect_agent(plain_sdk) is None


def test_the_routing_call_is_background():
    call = gemini_call(
        "generate",
        system="You are a specialized Task Routing AI. ...",
        model="gemini-3.5-flash-lite",
        generationConfig={
            "responseMimeType": "application/json",
            "responseJsonSchema": ROUTER_SCHEMA,
        },
    )
    step = classify(call, "gemini")
    assert step.kind == "background" and not step.main_loop
    assert "complexity_score" in step.evidence


def test_the_main_loop_is_implement():
    step = classify(gemini_call(tools=functions("list_directory", "read_file", "invoke_agent")))
    assert step.kind == "implement" and step.main_loop and step.matched


def test_a_subagent_loop_is_a_subagent_step_named_by_its_instruction():
    call = gemini_call(
        system="You are **Codebase Investigator**, a hyper-specialized AI agent and an expert ...",
        model="gemini-3-flash-preview",
        tools=functions("list_directory", "read_file", "glob", "grep_search", "complete_task"),
    )
    step = classify(call, "gemini")
    assert step.kind == "subagent" and not step.main_loop
    assert step.subagent_type == "Codebase Investigator"
    unnamed = classify(gemini_call(system="Help.", tools=functions("complete_task")), "gemini")
    assert unnamed.kind == "subagent" and unnamed.subagent_type is None


def test_compression_is_compact():
    system = (
        "You are a specialized system component responsible for distilling chat history "
        "into a structured XML <state_snapshot>."
    )
    step = classify(gemini_call("generate", system=system), "gemini")
    assert step.kind == "compact"
    # The verification pass names the snapshot in its last user turn instead.
    contents = [
        {"role": "user", "parts": [{"text": "list the files"}]},
        {"role": "model", "parts": [{"text": "<state_snapshot>...</state_snapshot>"}]},
        {"role": "user", "parts": [{"text": "Critically evaluate the <state_snapshot> you made."}]},
    ]
    step = classify(gemini_call("generate", system="Check.", contents=contents), "gemini")
    assert step.kind == "compact"


@pytest.mark.parametrize(
    ("prop", "what"),
    [("next_speaker", "next-speaker"), ("unproductive_state_analysis", "loop")],
)
def test_checks_with_their_own_schemas_are_background(prop, what):
    schema = {"type": "object", "properties": {prop: {"type": "string"}, "reasoning": {}}}
    call = gemini_call("generate", generationConfig={"responseJsonSchema": schema})
    step = classify(call, "gemini")
    assert step.kind == "background" and what in step.evidence


def test_web_search_is_search_and_other_one_shots_are_background():
    search = gemini_call("generate", tools=[{"googleSearch": {}}])
    assert classify(search, "gemini").kind == "search"
    helper = gemini_call("generate", system="Summarize the conversation in one line.")
    step = classify(helper, "gemini")
    assert step.kind == "background" and "one-shot generateContent" in step.evidence


def test_other_surfaces_and_clients_are_left_to_the_generic_rules():
    anthropic = Call(ANTHROPIC, "messages", {"messages": []}, {"user-agent": USER_AGENT})
    assert gemini_hints.classify(anthropic) is None
    plain = gemini_call(user_agent="curl/8.0")
    assert gemini_hints.classify(plain) is None
    assert classify(plain).matched is False  # the generic default, and it says so
