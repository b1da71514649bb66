"""Message content in the conventions' shape, read from every API's requests and answers (the
answers written by agentwrap.fakes, independently of agentwrap.wire)."""

from __future__ import annotations

import json

import pytest

from agentwrap.export.content import MAX_ATTRIBUTE, request_content, response_content
from agentwrap.fakes.provider import Call, Reply, stream_bytes, whole_body
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES

APIS = [ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI]
REPLY = Reply(text="The answer is 42.", tool_calls=[Call("Bash", {"command": "ls"}, "call_1")])


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("streamed", [False, True])
def test_the_answer_becomes_one_assistant_message(api, streamed):
    data = stream_bytes(api, REPLY) if streamed else json.dumps(whole_body(api, REPLY)).encode()
    out = response_content(data, api, streamed)
    (message,) = json.loads(out["gen_ai.output.messages"])
    assert message["role"] == "assistant"
    kinds = {p["type"]: p for p in message["parts"]}
    assert kinds["text"]["content"] == "The answer is 42."
    assert kinds["tool_call"]["name"] == "Bash"
    assert kinds["tool_call"]["arguments"] == {"command": "ls"}
    assert message["finish_reason"]


REQUESTS = {
    ANTHROPIC: {
        "model": "m",
        "max_tokens": 10,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "What is 6 times 7?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "calc", "input": {"x": 6}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}],
            },
        ],
    },
    OPENAI_CHAT: {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 6 times 7?"},
        ],
    },
    GEMINI: {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "What is 6 times 7?"}]}],
    },
}


@pytest.mark.parametrize("api", list(REQUESTS))
def test_the_request_becomes_system_instructions_and_input_messages(api):
    out = request_content(REQUESTS[api], api, "gemini-2.5-pro" if api == GEMINI else None)
    system = json.loads(out["gen_ai.system_instructions"])
    assert system == [{"type": "text", "content": "Be brief."}]
    messages = json.loads(out["gen_ai.input.messages"])
    assert messages[0]["role"] == "user"
    assert messages[0]["parts"][0] == {"type": "text", "content": "What is 6 times 7?"}
    if api == ANTHROPIC:
        assert messages[1]["parts"][0]["type"] == "tool_call"
        assert messages[2]["parts"][0] == {
            "type": "tool_call_response",
            "id": "t1",
            "response": "42",
        }


def test_long_histories_keep_the_newest_messages_and_keys_are_scrubbed():
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} " + "x" * 5000}
            for i in range(100)
        ]
        + [{"role": "user", "content": "my key is sk-ant-api03-abcdefghijklmnop, use it"}],
    }
    out = request_content(body, ANTHROPIC)
    text = out["gen_ai.input.messages"]
    assert len(text) <= MAX_ATTRIBUTE
    messages = json.loads(text)
    assert 0 < len(messages) < 101
    assert messages[-1]["parts"][0]["content"] == "my key is ***, use it"


def test_what_cannot_be_read_is_left_out():
    assert request_content({"messages": "not a list"}, OPENAI_RESPONSES) == {}
    assert response_content(b"<html>bad gateway</html>", ANTHROPIC, False) == {}
    assert response_content(b"", ANTHROPIC, True) == {}
