"""Step outcomes through `agentwrap serve` on the surfaces without an error flag: the label, the
struggle signals and the evidence land on the step's row, and a conversation without an id is
followed by its first message."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai

from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.proxy.conftest import running_serve, wait_calls

PROFILE = """
[providers.{name}]
api = "{api}"
base_url = "{url}"
forward_agent_key = true

[routing]
default = "requested"
"""

FAILED = "Process exited with code 2\nOutput:\nls: cannot access '/x': No such file or directory\n"


def _profile(tmp_path: Path, api: str, url: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.format(name=api.split("-")[0], api=api, url=url))
    return str(path)


def test_responses_steps_get_labels_signals_and_evidence(agentwrap_bin, tmp_path):
    script = [
        Reply(tool_calls=[Call("exec_command", {"cmd": "ls /x"}, id="c1")]),
        Reply(tool_calls=[Call("exec_command", {"cmd": "ls /x"}, id="c2")]),
        Reply(text="It is not there."),
        Reply(text="Sorry."),
    ]
    call = {"type": "function_call", "name": "exec_command", "arguments": '{"cmd": "ls /x"}'}
    first = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]}
    history: list[dict] = [first]
    with FakeProvider("openai-responses", script) as fake:
        profile = _profile(tmp_path, "openai-responses", fake.base_url)
        with running_serve(agentwrap_bin, fake.base_url, "--profile", profile) as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)
            client.responses.create(model="gpt-5.5", input=history)
            for call_id in ("c1", "c2"):
                history += [
                    {**call, "call_id": call_id},
                    {"type": "function_call_output", "call_id": call_id, "output": FAILED},
                ]
                client.responses.create(model="gpt-5.5", input=history)
            history += [
                {"role": "assistant", "content": "It is not there."},
                {"role": "user", "content": "no, look in /y"},
            ]
            client.responses.create(model="gpt-5.5", input=history)
            calls = wait_calls(4)
    assert [c["stop_reason"] for c in calls] == ["tool_use", "tool_use", "end_turn", "end_turn"]
    assert [c["outcome"] for c in calls] == ["failed", "failed", None, None]
    assert [c["signals"] for c in calls] == [
        [],
        ["repeated_call", "same_error"],
        ["corrective"],
        [],
    ]
    failed = "exec_command failed: exit code 2"
    assert calls[0]["outcome_evidence"] == failed
    assert calls[1]["outcome_evidence"] == (
        f"{failed}; the same exec_command call as the step before; "
        "the same error as the step before"
    )
    assert calls[2]["outcome_evidence"] == 'a corrective message ("no...")'
    # One conversation, named by its first message: no header named it.
    assert len({c["thread_id"] for c in calls}) == 1 and calls[0]["thread_id"]


def _gemini_post(url: str, contents: list[dict]) -> dict:
    r = httpx.post(
        f"{url}/v1beta/models/gemini-2.5-pro:generateContent",
        json={"contents": contents},
        headers={"x-goog-api-key": "test-key"},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


def _gemini_turns(
    url: str, contents: list[dict], answers: list[dict], also: dict | None = None
) -> None:
    """Gemini CLI's loop: post the conversation, answer each function call the model makes with
    the next of `answers` (and `also`, a part the user's turn adds), then post the last turn."""
    for answer in [*answers, None]:
        doc = _gemini_post(url, contents)
        if answer is None:
            return
        model_turn = doc["candidates"][0]["content"]
        name = model_turn["parts"][0]["functionCall"]["name"]
        parts = [{"functionResponse": {"name": name, "response": answer}}]
        contents += [model_turn, {"role": "user", "parts": [*parts, *([also] if also else [])]}]


def test_gemini_error_responses_label_the_step_failed(agentwrap_bin, tmp_path):
    script = [
        Reply(tool_calls=[Call("read_file", {"file_path": "nope.txt"})]),
        Reply(tool_calls=[Call("list_directory", {"dir_path": "."})]),
        Reply(text="Found README.md"),
    ]
    contents: list[dict] = [{"role": "user", "parts": [{"text": "read nope.txt"}]}]
    answers = [
        {"error": "File not found: /repo/nope.txt"},
        {"output": "Directory listing for /repo:\nREADME.md"},
    ]
    with FakeProvider("gemini", script) as fake:
        profile = _profile(tmp_path, "gemini", fake.base_url)
        with running_serve(agentwrap_bin, fake.base_url, "--profile", profile) as url:
            _gemini_turns(url, contents, answers)
            calls = wait_calls(3)
    assert [c["outcome"] for c in calls] == ["failed", "succeeded", None]
    assert calls[0]["outcome_evidence"] == "read_file failed: File not found: /repo/nope.txt"
    assert calls[1]["outcome_evidence"] == "1 tool result(s), none failed"
    assert json.dumps(calls[0]["signals"]) == "[]"


# Codex 0.171's note after a turn the user interrupted (its tags and sentence; the line breaks
# between them are ours).
TURN_ABORTED = (
    "<turn_aborted>\nThe user interrupted the previous turn on purpose. Any running unified "
    "exec processes may still be running in the background. If any tools/commands were "
    "aborted, they may have partially executed.\n</turn_aborted>"
)


def test_codex_rejected_and_interrupted_steps_are_interrupted_not_failed(agentwrap_bin, tmp_path):
    script = [
        Reply(tool_calls=[Call("exec_command", {"cmd": "rm -rf build"}, id="c1")]),
        Reply(tool_calls=[Call("exec_command", {"cmd": "sleep 99"}, id="c2")]),
        Reply(text="Stopped."),
    ]

    def user(text: str) -> dict:
        return {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }

    def call(call_id: str, cmd: str) -> dict:
        arguments = json.dumps({"cmd": cmd})
        return {
            "type": "function_call",
            "name": "exec_command",
            "arguments": arguments,
            "call_id": call_id,
        }

    def output(call_id: str, text: str) -> dict:
        return {"type": "function_call_output", "call_id": call_id, "output": text}

    history: list[dict] = [user("clean the build")]
    with FakeProvider("openai-responses", script) as fake:
        profile = _profile(tmp_path, "openai-responses", fake.base_url)
        with running_serve(agentwrap_bin, fake.base_url, "--profile", profile) as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)
            client.responses.create(model="gpt-5.5", input=history)
            # The user said no at the approval prompt; Codex tells the model so and goes on.
            history += [call("c1", "rm -rf build"), output("c1", "exec command rejected by user")]
            client.responses.create(model="gpt-5.5", input=history)
            # The user pressed Esc while the command ran, then typed again.
            history += [
                call("c2", "sleep 99"),
                output("c2", "aborted by user after 2.1s"),
                user(TURN_ABORTED),
                user("just list it"),
            ]
            client.responses.create(model="gpt-5.5", input=history)
            calls = wait_calls(3)
    assert [c["outcome"] for c in calls] == ["interrupted", "interrupted", None]
    assert [c["signals"] for c in calls[:2]] == [["rejected"], ["interrupt"]]
    assert calls[0]["outcome_evidence"] == "the user rejected a tool call"
    assert calls[1]["outcome_evidence"] == "the user interrupted it"


def test_gemini_denied_and_cancelled_calls_are_interrupted_not_failed(agentwrap_bin, tmp_path):
    script = [
        Reply(tool_calls=[Call("run_shell_command", {"command": "rm -rf build"})]),
        Reply(tool_calls=[Call("run_shell_command", {"command": "sleep 99"})]),
        Reply(text="Stopped."),
    ]
    contents: list[dict] = [{"role": "user", "parts": [{"text": "clean the build"}]}]
    answers = [
        {"error": "[Operation Cancelled] Reason: User denied execution."},
        {"error": "[Operation Cancelled] User cancelled tool execution."},
    ]
    with FakeProvider("gemini", script) as fake:
        profile = _profile(tmp_path, "gemini", fake.base_url)
        with running_serve(agentwrap_bin, fake.base_url, "--profile", profile) as url:
            _gemini_turns(url, contents, answers, also={"text": "do something else"})
            calls = wait_calls(3)
    assert [c["outcome"] for c in calls] == ["interrupted", "interrupted", None]
    assert [c["signals"] for c in calls[:2]] == [["rejected"], ["interrupt"]]


CLINE = Path(__file__).parents[1] / "fixtures" / "cline" / "implement-act.json"


def test_cline_tool_answers_label_its_steps(agentwrap_bin, tmp_path):
    # Cline 3.0.65's own first request, then its next one carrying a run_commands answer.
    capture = json.loads(CLINE.read_text())
    body, headers = capture["body"], capture["headers"]
    script = [
        Reply(tool_calls=[Call("run_commands", {"commands": ["false"]}, id="toolu_1")]),
        Reply(tool_calls=[Call("run_commands", {"commands": ["ls"]}, id="toolu_2")]),
        Reply(text="It holds app.py."),
    ]
    answers = [
        [{"query": "false", "result": "", "error": "Command exited with code 1", "success": False}],
        [{"query": "ls", "result": "app.py\n", "success": True}],
    ]
    sent = {
        k: v
        for k, v in headers.items()
        if k in ("user-agent", "anthropic-beta", "anthropic-version")
    }
    with FakeProvider("anthropic", script) as fake:
        profile = _profile(tmp_path, "anthropic", fake.base_url)
        with running_serve(
            agentwrap_bin, fake.base_url, "--profile", profile, "--agent", "cline"
        ) as url:
            messages = list(body["messages"])
            for answer in [*answers, None]:
                r = httpx.post(
                    f"{url}/v1/messages",
                    json={**body, "stream": False, "messages": messages},
                    headers={**sent, "x-api-key": "sk-ant-test"},
                    timeout=30,
                )
                r.raise_for_status()
                if answer is None:
                    break
                turn = r.json()
                use = next(b for b in turn["content"] if b["type"] == "tool_use")
                messages += [
                    {"role": "assistant", "content": turn["content"]},
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": use["id"],
                                "content": json.dumps(answer),
                            }
                        ],
                    },
                ]
            calls = wait_calls(3)
    assert [c["step"] for c in calls] == ["implement"] * 3
    assert [c["outcome"] for c in calls] == ["failed", "succeeded", None]
    assert calls[0]["outcome_evidence"] == "run_commands failed: exit code 1"
