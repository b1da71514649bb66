"""What a request reveals about the previous step: succeeded, failed, interrupted, or nothing."""

from __future__ import annotations

from agentwrap.route.features import last_step_outcome
from agentwrap.wire.call import Call


def call_with(*messages: dict, surface: str = "anthropic") -> Call:
    return Call(surface, "messages", {"model": "m", "messages": list(messages)})


def results(*blocks: dict) -> dict:
    return {"role": "user", "content": list(blocks)}


OK = {"type": "tool_result", "tool_use_id": "a", "content": "file.txt"}
ERR = {"type": "tool_result", "tool_use_id": "b", "content": "ls: cannot access", "is_error": True}


def test_tool_results_without_errors_mean_succeeded():
    assert last_step_outcome(call_with(results(OK))) == "succeeded"


def test_any_error_means_failed():
    assert last_step_outcome(call_with(results(OK, ERR))) == "failed"


def test_user_interruption_is_its_own_outcome():
    interrupted = {
        "type": "tool_result",
        "tool_use_id": "c",
        "content": [{"type": "text", "text": "[Request interrupted by user for tool use]"}],
        "is_error": True,
    }
    assert last_step_outcome(call_with(results(interrupted))) == "interrupted"
    typed = results({"type": "text", "text": "[Request interrupted by user]"})
    assert last_step_outcome(call_with(typed)) == "interrupted"


def test_trailing_system_notes_are_looked_past():
    note = {"role": "system", "content": "Plan mode is active."}
    assert last_step_outcome(call_with(results(ERR), note)) == "failed"


def test_no_tool_results_reveals_nothing():
    assert last_step_outcome(call_with({"role": "user", "content": "hello"})) is None
    assert last_step_outcome(call_with()) is None
    assert (
        last_step_outcome(call_with({"role": "user", "content": "x"}, surface="openai-chat"))
        is None
    )
