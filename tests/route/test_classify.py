"""The step classifier on small hand-made Claude Code requests (markers from AGENT-WIRE.md)."""

from __future__ import annotations

import pytest

from agentwrap.route.classify import classify, detect_agent
from agentwrap.wire.call import Call
from tests.route import claude_wire as cw


def test_main_loop_is_implement_with_evidence() -> None:
    step = classify(cw.main_loop(), agent="claude")
    assert step.kind == "implement"
    assert step.main_loop and step.matched
    assert "context_management" in step.evidence


def test_explore_subagent_by_header_and_prompt() -> None:
    step = classify(cw.subagent(cw.EXPLORE_PROMPT))
    assert (step.kind, step.subagent_type, step.main_loop) == ("explore", "Explore", False)
    assert step.evidence == "header x-claude-code-agent-id + file-search system prompt → explore"


def test_plan_subagent() -> None:
    step = classify(cw.subagent(cw.PLAN_PROMPT, model="claude-opus-4-8"))
    assert (step.kind, step.subagent_type) == ("plan", "Plan")


def test_general_purpose_subagent() -> None:
    step = classify(cw.subagent(cw.GENERAL_PROMPT))
    assert (step.kind, step.subagent_type) == ("subagent", "general-purpose")


def test_custom_subagent_says_it_has_no_builtin_type() -> None:
    step = classify(cw.subagent("You review code for security issues."))
    assert (step.kind, step.subagent_type) == ("subagent", "custom")
    assert "no built-in type" in step.evidence


def test_nested_subagent_evidence_names_parent_header() -> None:
    step = classify(cw.subagent(cw.EXPLORE_PROMPT, nested=True))
    assert step.kind == "explore"
    assert "parent-agent-id" in step.evidence


def test_subagent_without_header_found_by_billing_block() -> None:
    step = classify(cw.subagent(cw.EXPLORE_PROMPT, header=False))
    assert step.kind == "explore"
    assert step.evidence.startswith("cc_is_subagent=true")


def test_title_generation_is_background() -> None:
    step = classify(cw.title_call())
    assert step.kind == "background"
    assert "title" in step.evidence


def test_tiny_max_tokens_probe_is_background() -> None:
    call = cw.main_loop(max_tokens=1)
    step = classify(call)
    assert step.kind == "background"
    assert "max_tokens=1" in step.evidence


def test_side_request_without_tools_is_background() -> None:
    call = cw.main_loop()
    del call.body["tools"]
    del call.body["context_management"]
    assert classify(call).kind == "background"


def test_web_search_call_is_search() -> None:
    step = classify(cw.web_search_call())
    assert step.kind == "search"
    assert "tool_choice forces it" in step.evidence


def test_compaction() -> None:
    step = classify(cw.compact_call())
    assert step.kind == "compact"
    assert step.main_loop


def test_summary_words_inside_a_tool_result_are_not_compaction() -> None:
    messages = cw.tool_round(False)
    messages[-1]["content"][0]["content"] = "create a detailed summary of the conversation"
    assert classify(cw.main_loop(messages)).kind == "implement"


def test_plan_mode_reminder_in_a_system_message() -> None:
    messages = [
        {"role": "system", "content": cw.PLAN_REMINDER},
        {"role": "user", "content": "add caching"},
    ]
    step = classify(cw.main_loop(messages))
    assert step.kind == "plan"
    assert "system message" in step.evidence


def test_plan_mode_reminder_in_a_user_block() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": cw.PLAN_REMINDER},
                {"type": "text", "text": "add caching"},
            ],
        }
    ]
    assert classify(cw.main_loop(messages)).kind == "plan"


def test_leaving_plan_mode_goes_back_to_implement() -> None:
    messages = [
        {"role": "system", "content": cw.PLAN_REMINDER},
        {"role": "user", "content": "add caching"},
        {"role": "assistant", "content": "Here is the plan."},
        {
            "role": "user",
            "content": "<system-reminder>You have exited plan mode. You can now make edits.</system-reminder> go",
        },
    ]
    assert classify(cw.main_loop(messages)).kind == "implement"


def test_unknown_wire_falls_back_visibly() -> None:
    call = Call("anthropic", "messages", {"model": "m", "max_tokens": 100, "messages": []}, {})
    step = classify(call)
    assert step.kind == "implement"
    assert not step.matched
    assert "no step marker matched" in step.evidence and "default" in step.evidence


def test_claude_request_without_known_markers_says_default() -> None:
    call = cw.main_loop()
    del call.body["context_management"]
    step = classify(call)
    assert step.kind == "implement" and not step.matched
    assert "(default)" in step.evidence


def test_count_tokens_is_background() -> None:
    call = cw.main_loop()
    call.endpoint = "count_tokens"
    assert classify(call).kind == "background"


def test_detect_agent() -> None:
    assert detect_agent(cw.main_loop()) == "claude"
    assert detect_agent(Call("openai-chat", "chat", {"model": "x", "messages": []}, {})) is None


def test_other_surfaces_get_the_default() -> None:
    call = Call("openai-responses", "responses", {"model": "gpt-5", "input": []}, {})
    step = classify(call)
    assert step.kind == "implement" and not step.matched


@pytest.mark.parametrize(
    "instruction",
    [
        "Your task is to create a detailed summary of the conversation so far.",
        "Please create a detailed summary of this conversation.",
        "Your task is to create a detailed summary of the RECENT portion of the conversation.",
    ],
)
def test_compaction_variants(instruction: str) -> None:
    call = cw.compact_call()
    call.body["messages"][-1]["content"][0]["text"] = instruction
    assert classify(call).kind == "compact"


def test_plan_mode_in_a_long_conversation_uses_the_newest_marker() -> None:
    filler = [{"role": "user", "content": "x" * 1000}, {"role": "assistant", "content": "ok"}] * 50
    on = [{"role": "system", "content": cw.PLAN_REMINDER}]
    off = [{"role": "system", "content": "## Exited Plan Mode\n\nYou have exited plan mode."}]
    again = [
        {
            "role": "user",
            "content": "<system-reminder>Plan mode still active (see above).</system-reminder>",
        }
    ]
    assert classify(cw.main_loop(on + filler)).kind == "plan"
    assert classify(cw.main_loop(on + filler + off + filler)).kind == "implement"
    assert classify(cw.main_loop(on + off + filler + again)).kind == "plan"


def test_compaction_right_after_a_tool_result() -> None:
    messages = cw.tool_round(False)
    messages[-1]["content"].append(
        {
            "type": "text",
            "text": "Your task is to create a detailed summary of the conversation so far.",
        }
    )
    step = classify(cw.main_loop(messages))
    assert step.kind == "compact"


@pytest.mark.parametrize(
    ("prompt", "subagent_type"),
    [
        (cw.MAIN_PROMPT, "fork"),
        ("You are a status line setup agent for Claude Code.", "statusline-setup"),
    ],
)
def test_other_builtin_subagents(prompt: str, subagent_type: str) -> None:
    step = classify(cw.subagent(prompt))
    assert (step.kind, step.subagent_type) == ("subagent", subagent_type)


def test_auto_mode_permission_classifier_is_background() -> None:
    # Claude Code 2.1.332: a side request, not streamed, no tools, stopped at </block>.
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 64,
        "stop_sequences": ["</block>"],
        "system": cw.system(
            "You are a security monitor for autonomous AI coding agents. Decide whether ..."
        ),
        "messages": [{"role": "user", "content": "<transcript>git push</transcript>"}],
    }
    step = classify(Call("anthropic", "messages", body, dict(cw.HEADERS)))
    assert step.kind == "background" and "permission classifier" in step.evidence
    assert not step.main_loop


def test_a_turn_bringing_a_task_notification_is_the_main_loop() -> None:
    # 2.1.332's Agent tool runs in the background; its end arrives as a main-loop turn.
    note = (
        "<system-reminder>\n[SYSTEM NOTIFICATION - NOT USER INPUT]\n<task-notification>\n"
        "<task-id>a3a3</task-id>\n<status>completed</status>\n</task-notification>"
    )
    step = classify(cw.main_loop([{"role": "user", "content": [{"type": "text", "text": note}]}]))
    assert step.kind == "implement" and step.main_loop
    assert "<task-notification>" in step.evidence


def test_subagent_with_the_main_loops_shape_is_still_a_subagent() -> None:
    # 2.1.332 subagents: the main loop's betas, adaptive thinking and context_management.
    call = cw.subagent(cw.EXPLORE_PROMPT, model="claude-opus-5-5")
    call.body["context_management"] = {"edits": []}
    call.body["thinking"] = {"type": "adaptive"}
    step = classify(call)
    assert (
        step.kind == "explore" and not step.main_loop and "x-claude-code-agent-id" in step.evidence
    )
