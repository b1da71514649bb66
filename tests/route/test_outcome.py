"""What a request reveals about the previous step: succeeded, failed, interrupted, or nothing."""

from __future__ import annotations

import json

from agentwrap.route.features import features
from agentwrap.route.outcome import (
    Outcome,
    conversation_fingerprint,
    error_line,
    is_corrective,
    last_step_outcome,
    output_failed,
    read_outcome,
)
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


# -- every surface ------------------------------------------------------------------------

CODEX_FAILED = (
    "Chunk ID: 828960\nWall time: 0.0202 seconds\nProcess exited with code 2\n"
    "Original token count: 15\nOutput:\nls: cannot access '/no/such/dir': No such file or directory\n"
)
CODEX_OK = (
    "Chunk ID: 051dba\nWall time: 0.0000 seconds\nProcess exited with code 0\n"
    "Original token count: 5\nOutput:\nREADME.md\napp.py\n"
)


def responses_call(*items: dict) -> Call:
    return Call("openai-responses", "responses", {"model": "m", "input": list(items)})


def fn_call(call_id: str, cmd: str) -> dict:
    return {
        "type": "function_call",
        "name": "exec_command",
        "arguments": json.dumps({"cmd": cmd}),
        "call_id": call_id,
    }


def fn_output(call_id: str, output: str) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def test_responses_function_call_output_exit_codes():
    failed = read_outcome(responses_call(fn_call("a", "ls /x"), fn_output("a", CODEX_FAILED)))
    assert failed.label == "failed"
    # The evidence is stored: the exit code says it, the output's own words stay out.
    assert failed.evidence == "exec_command failed: exit code 2"
    ok = read_outcome(responses_call(fn_call("b", "ls"), fn_output("b", CODEX_OK)))
    assert ok.label == "succeeded" and ok.signals == ()


def test_every_way_codex_writes_an_exit_code():
    assert output_failed("Exit code: 1\nWall time: 0.2 seconds\nOutput:\nboom") == (
        True,
        "exit code 1",
    )
    metadata = json.dumps({"output": "boom", "metadata": {"exit_code": 127}})
    assert output_failed(metadata) == (True, "exit code 127")
    assert output_failed(json.dumps({"output": "", "metadata": {"exit_code": 0}})) == (False, None)
    assert output_failed("plain text, no status") == (False, None)
    # A huge output is read at its head and tail only, where the status is written.
    assert output_failed("x" * 100_000 + "\nExit Code: 3\n")[0] is True


def test_responses_user_message_after_an_answer_reveals_no_label():
    typed = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    assert read_outcome(responses_call(typed)).label is None


def gemini_call(*contents: dict) -> Call:
    return Call("gemini", "stream_generate", {"contents": list(contents)}, path_model="g")


def model_calls(name: str, args: dict, call_id: str = "id1") -> dict:
    return {
        "role": "model",
        "parts": [{"functionCall": {"id": call_id, "name": name, "args": args}}],
    }


def fn_response(name: str, response: dict, call_id: str = "id1") -> dict:
    return {
        "role": "user",
        "parts": [{"functionResponse": {"id": call_id, "name": name, "response": response}}],
    }


def test_gemini_function_response_error_field():
    error = {"error": "File not found: /repo/nope.txt"}
    failed = read_outcome(
        gemini_call(
            model_calls("read_file", {"file_path": "nope.txt"}), fn_response("read_file", error)
        )
    )
    assert failed.label == "failed"
    assert failed.evidence == "read_file failed: File not found: /repo/nope.txt"
    shell = {"output": "Output: ls: cannot access\nExit Code: 2\nProcess Group PGID: 5905"}
    assert (
        read_outcome(
            gemini_call(
                model_calls("run_shell_command", {}), fn_response("run_shell_command", shell)
            )
        ).label
        == "failed"
    )
    listing = {"output": "Directory listing for /repo:\nREADME.md"}
    assert (
        read_outcome(
            gemini_call(model_calls("list_directory", {}), fn_response("list_directory", listing))
        ).label
        == "succeeded"
    )


def chat_call(*messages: dict) -> Call:
    return Call("openai-chat", "chat", {"model": "m", "messages": list(messages)})


def chat_assistant(name: str, args: dict, call_id: str = "c1") -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def test_chat_tool_messages():
    def outcome(content: str) -> str | None:
        return read_outcome(
            chat_call(
                chat_assistant("run", {"cmd": "make"}),
                {"role": "tool", "tool_call_id": "c1", "content": content},
            )
        ).label

    assert outcome("Error: no such file") == "failed"
    assert outcome('{"error": "permission denied"}') == "failed"
    assert outcome("make: *** [all] Error 2\nExit code: 2") == "failed"
    assert outcome("built 3 targets") == "succeeded"
    assert outcome('{"error": null, "result": "ok"}') == "succeeded"


def test_features_read_the_last_failure_on_every_surface():
    failed = responses_call(fn_call("a", "ls /x"), fn_output("a", CODEX_FAILED))
    assert features(failed).last_failed is True
    ok = responses_call(fn_call("b", "ls"), fn_output("b", CODEX_OK))
    assert features(ok).last_failed is False
    assert features(responses_call()).last_failed is None


# -- struggle signals -----------------------------------------------------------------------


def tool_use(name: str, args: dict, tool_id: str) -> dict:
    return {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": tool_id, "name": name, "input": args}],
    }


def tool_result(tool_id: str, text: str, error: bool = False, *extra: dict) -> dict:
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": text, "is_error": error}
    return {"role": "user", "content": [block, *extra]}


def test_the_same_tool_call_twice_is_a_repeat():
    args = {"command": "pytest -q"}
    outcome = read_outcome(
        call_with(
            tool_use("Bash", args, "t1"),
            tool_result("t1", "1 failed", True),
            tool_use("Bash", dict(args), "t2"),
            tool_result("t2", "1 passed"),
        )
    )
    assert outcome.label == "succeeded"
    assert outcome.signals == ("repeated_call",)
    assert "the same Bash call as the step before" in outcome.evidence
    other = read_outcome(
        call_with(
            tool_use("Bash", args, "t1"),
            tool_result("t1", "ok"),
            tool_use("Bash", {"command": "pytest -x"}, "t2"),
            tool_result("t2", "ok"),
        )
    )
    assert other.signals == ()


def test_an_edit_retried_after_it_failed():
    missing = "<tool_use_error>String to replace not found in file.</tool_use_error>"
    outcome = read_outcome(
        call_with(
            tool_use(
                "Edit", {"file_path": "/r/app.py", "old_string": "a", "new_string": "b"}, "e1"
            ),
            tool_result("e1", missing, True),
            tool_use(
                "Edit", {"file_path": "/r/app.py", "old_string": "c", "new_string": "d"}, "e2"
            ),
            tool_result("e2", missing, True),
        )
    )
    assert outcome.label == "failed"
    assert outcome.signals == ("edit_retry", "same_error")
    assert "an edit of /r/app.py again after it failed" in outcome.evidence
    # An edit after a successful edit of the same file is ordinary work.
    calm = read_outcome(
        call_with(
            tool_use(
                "Edit", {"file_path": "/r/app.py", "old_string": "a", "new_string": "b"}, "e1"
            ),
            tool_result("e1", "ok"),
            tool_use(
                "Edit", {"file_path": "/r/app.py", "old_string": "c", "new_string": "d"}, "e2"
            ),
            tool_result("e2", "ok"),
        )
    )
    assert calm.signals == ()


def test_apply_patch_retry_on_codex():
    patch = "*** Begin Patch\n*** Update File: src/app.py\n@@\n-a\n+b\n*** End Patch"
    item = {"type": "custom_tool_call", "name": "apply_patch", "input": patch, "call_id": "p1"}
    again = dict(item, call_id="p2", input=patch.replace("+b", "+c"))
    outcome = read_outcome(
        responses_call(
            item,
            {
                "type": "custom_tool_call_output",
                "call_id": "p1",
                "output": "Exit code: 1\nverification failed",
            },
            again,
            {"type": "custom_tool_call_output", "call_id": "p2", "output": "Exit code: 0\nSuccess"},
        )
    )
    assert outcome.label == "succeeded" and outcome.signals == ("edit_retry",)


def test_the_same_error_is_the_line_that_says_what_went_wrong():
    def shell_step(call_id: str, cmd: str, output: str) -> list[dict]:
        return [fn_call(call_id, cmd), fn_output(call_id, output)]

    same = read_outcome(
        responses_call(
            *shell_step("a", "make", "Wall time: 0.1 seconds\nExit code: 2\nOutput:\nno rule"),
            *shell_step("b", "make -k", "Wall time: 0.3 seconds\nExit code: 2\nOutput:\nno rule"),
        )
    )
    assert same.signals == ("same_error",)
    other = read_outcome(
        responses_call(
            *shell_step("a", "make", "Exit code: 2\nOutput:\nno rule"),
            *shell_step("b", "make -k", "Exit code: 2\nOutput:\nsyntax error"),
        )
    )
    assert other.signals == ()
    assert error_line("Chunk ID: 1\nProcess exited with code 1\nOutput:\n\nboom\n") == "boom"
    assert error_line("Output: ls: no\nExit Code: 2\nProcess Group PGID: 5905") == "ls: no"


def test_the_same_error_twice():
    outcome = read_outcome(
        gemini_call(
            model_calls("run_shell_command", {"command": "make"}, "s1"),
            fn_response("run_shell_command", {"error": "Command failed: make"}, "s1"),
            model_calls("run_shell_command", {"command": "make all"}, "s2"),
            fn_response("run_shell_command", {"error": "Command failed: make"}, "s2"),
        )
    )
    assert outcome.label == "failed" and outcome.signals == ("same_error",)


def test_an_interrupt_is_a_signal_too():
    stopped = tool_result("t1", "[Request interrupted by user for tool use]", True)
    outcome = read_outcome(call_with(tool_use("Bash", {"command": "sleep 99"}, "t1"), stopped))
    assert outcome.label == "interrupted" and outcome.signals == ("interrupt",)


def test_a_rejected_tool_call():
    refusal = (
        "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if "
        "it was a file edit, the new_string was NOT written to the file). STOP what you are doing"
    )
    outcome = read_outcome(
        call_with(tool_use("Write", {"file_path": "/r/x"}, "w1"), tool_result("w1", refusal, True))
    )
    assert outcome.label == "failed" and outcome.signals == ("rejected",)
    assert "the user rejected a tool call" in outcome.evidence


def test_a_corrective_message_after_a_step():
    said = {"type": "text", "text": "No, don't touch the tests"}
    outcome = read_outcome(
        call_with(tool_use("Bash", {"command": "ls"}, "t1"), tool_result("t1", "ok", False, said))
    )
    assert outcome.label == "succeeded" and outcome.signals == ("corrective",)
    assert outcome.evidence == 'a corrective message ("no...")'
    assert "touch the tests" not in outcome.evidence  # the user's words are not stored
    # After an answer (no tool calls), the user's next message is all there is to read.
    answered = read_outcome(
        call_with(
            {"role": "user", "content": "fix it"},
            {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
            {"role": "user", "content": "that's wrong, the bug is in parse()"},
        )
    )
    assert answered.label is None and answered.signals == ("corrective",)
    assert answered.evidence == 'a corrective message ("that\'s wrong...")'


def test_which_messages_are_corrective():
    for text in (
        "no",
        "No.",
        "nope, try again",
        "Don’t do that",
        "do not commit",
        "STOP",
        "wait - that deletes data",
        "undo that",
        "revert it",
        "That's wrong",
        "that is not what I asked",
        "not what I meant",
    ):
        assert is_corrective(text), text
    for text in (
        "now add tests",
        "nothing else, thanks",
        "no problem, continue",
        "stopwatch module next",
        "great, commit it",
        "Note: use tabs",
        "no " + "x" * 400,
        "",
    ):
        assert not is_corrective(text), text


def test_notes_the_agent_adds_are_not_the_users_words():
    note = {"type": "text", "text": "<system-reminder>no edits in plan mode</system-reminder>"}
    outcome = read_outcome(
        call_with(tool_use("Bash", {"command": "ls"}, "t1"), tool_result("t1", "ok", False, note))
    )
    assert outcome.signals == ()


def test_a_conversation_without_ids_is_named_by_its_first_message():
    opening = {"role": "user", "parts": [{"text": "fix the tests"}]}
    first = gemini_call(opening)
    later = gemini_call(opening, model_calls("ls", {}), fn_response("ls", {"output": "a"}))
    other = gemini_call({"role": "user", "parts": [{"text": "You are a subagent."}]})
    assert conversation_fingerprint(first) == conversation_fingerprint(later)
    assert conversation_fingerprint(first) != conversation_fingerprint(other)
    assert conversation_fingerprint(gemini_call()) is None


# -- the user stopping or refusing a step, in each agent's words ---------------------------

# Codex 0.171's note after a turn the user interrupted (its tags and sentence; the line
# breaks between them are ours).
CODEX_TURN_ABORTED = (
    "<turn_aborted>\nThe user interrupted the previous turn on purpose. Any running unified "
    "exec processes may still be running in the background. If any tools/commands were "
    "aborted, they may have partially executed.\n</turn_aborted>"
)


def codex_user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_codex_interrupted_call_and_turn_aborted_note():
    outcome = read_outcome(
        responses_call(
            fn_call("a", "sleep 99"),
            fn_output("a", "aborted by user after 2.1s"),
            codex_user(CODEX_TURN_ABORTED),
            codex_user("run the tests instead"),
        )
    )
    assert (outcome.label, outcome.signals) == ("interrupted", ("interrupt",))
    # The stopped call is not called a failure.
    assert outcome.evidence == "the user interrupted it"
    # The note alone (an answer being written when the user pressed Esc) says the same.
    assert read_outcome(responses_call(codex_user(CODEX_TURN_ABORTED))).label == "interrupted"


def test_codex_rejected_command_and_patch():
    for refusal in ("exec command rejected by user", "patch rejected by user"):
        outcome = read_outcome(
            responses_call(fn_call("a", "rm -rf build"), fn_output("a", refusal))
        )
        assert (outcome.label, outcome.signals) == ("interrupted", ("rejected",)), refusal
        assert outcome.evidence == "the user rejected a tool call"
    # The sandbox's policy refusing a write is not the user's rejection.
    policy = "writing outside of the project; rejected by user approval settings"
    outcome = read_outcome(responses_call(fn_call("a", "touch /etc/x"), fn_output("a", policy)))
    assert "rejected" not in outcome.signals and outcome.label != "interrupted"


def test_gemini_cancelled_and_denied_calls():
    denied = fn_response(
        "run_shell_command", {"error": "[Operation Cancelled] Reason: User denied execution."}
    )
    outcome = read_outcome(gemini_call(model_calls("run_shell_command", {"command": "ls"}), denied))
    assert (outcome.label, outcome.signals) == ("interrupted", ("rejected",))
    assert outcome.evidence == "the user rejected a tool call"
    for error in (
        "[Operation Cancelled] User cancelled tool execution.",
        "[Operation Cancelled] Reason: Operation cancelled by user",
    ):
        stopped = fn_response("run_shell_command", {"error": error})
        outcome = read_outcome(gemini_call(model_calls("run_shell_command", {}), stopped))
        assert (outcome.label, outcome.signals) == ("interrupted", ("interrupt",)), error
    # A tool's own error is still a failure.
    failed = fn_response("read_file", {"error": "File not found: /repo/nope.txt"})
    assert read_outcome(gemini_call(model_calls("read_file", {}), failed)).label == "failed"


# Cline 3.0.65's tool answers: JSON, one {query, result, error, success} per item asked for.
CLINE_FAILED = json.dumps(
    [{"query": "false", "result": "", "error": "Command exited with code 1", "success": False}]
)
CLINE_READ_FAILED = json.dumps(
    [
        {"query": "/repo/a.py", "result": "x = 1\n", "success": True},
        {"query": "/repo/nope.py", "result": "", "error": "File not found", "success": False},
    ]
)
CLINE_OK = json.dumps([{"query": "ls", "result": "app.py\n", "success": True}])


def test_cline_tool_answers_on_anthropic_and_chat():
    def anthropic(text: str, name: str = "run_commands") -> Outcome:
        return read_outcome(
            call_with(tool_use(name, {"commands": ["false"]}, "t1"), tool_result("t1", text))
        )

    failed = anthropic(CLINE_FAILED)
    assert (failed.label, failed.evidence) == ("failed", "run_commands failed: exit code 1")
    read = anthropic(CLINE_READ_FAILED, "read_files")
    assert (read.label, read.evidence) == ("failed", "read_files failed: File not found")
    assert anthropic(CLINE_OK).label == "succeeded"
    # JSON that is not Cline's answer is read as before: a file's content is not a failure.
    assert anthropic(json.dumps({"success": False, "note": "a config file"})).label == "succeeded"
    chat = read_outcome(
        chat_call(
            chat_assistant("run_commands", {"commands": ["false"]}),
            {"role": "tool", "tool_call_id": "c1", "content": CLINE_FAILED},
        )
    )
    assert (chat.label, chat.evidence) == ("failed", "run_commands failed: exit code 1")
