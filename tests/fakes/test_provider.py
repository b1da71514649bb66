"""FakeProvider speaks each API as the official SDKs understand it, faults included."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from agentwrap.fakes.provider import Call, FakeProvider, Reply, stream_bytes

TOOLS_REPLY = Reply(
    text="Listing.",
    tool_calls=[Call("Bash", {"command": "ls -la"}), Call("Read", {"path": "a.py"})],
    usage={"input": 40, "output": 12, "cache_read": 8},
)


def test_anthropic_stream_assembled_by_the_sdk() -> None:
    reply = Reply(
        text=TOOLS_REPLY.text,
        tool_calls=TOOLS_REPLY.tool_calls,
        reasoning="Look first.",
        signature="c2ln",
        usage=TOOLS_REPLY.usage,
    )
    with FakeProvider("anthropic", [reply]) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
        with client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            message = stream.get_final_message()
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].signature == "c2ln"
    assert [b.input for b in message.content[2:]] == [{"command": "ls -la"}, {"path": "a.py"}]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (40, 8)
    assert message.usage.output_tokens == 12


def test_chat_stream_assembled_by_the_sdk_with_usage_last() -> None:
    with FakeProvider("openai-chat", [TOOLS_REPLY]) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        stream = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls: dict[int, str] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            calls[tc.index] = calls.get(tc.index, "") + (tc.function.arguments or "")
    assert text == "Listing."
    assert [json.loads(calls[i]) for i in sorted(calls)] == [
        {"command": "ls -la"},
        {"path": "a.py"},
    ]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 48  # cached inside
    assert fake.requests[0].path == "/v1/chat/completions"
    # Only the last choice finishes: a client that stops at the first finish_reason (qwen-code
    # does) must see every argument piece first.
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[:-1] == [None] * (len(finishes) - 1) and finishes[-1] == "tool_calls"


def test_responses_stream_assembled_by_the_sdk() -> None:
    with FakeProvider("openai-responses", [TOOLS_REPLY]) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        with client.responses.stream(model="m", input="hi") as stream:
            response = stream.get_final_response()
    assert response.output_text == "Listing."
    calls = [item for item in response.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"command": "ls -la"}, {"path": "a.py"}]
    assert response.usage is not None and response.usage.input_tokens == 48


def test_gemini_stream_and_whole_answer() -> None:
    with FakeProvider("gemini", [TOOLS_REPLY, TOOLS_REPLY]) as fake:
        url = f"{fake.base_url}/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
        raw = httpx.post(url, json={"contents": []}).text
        whole = httpx.post(f"{fake.base_url}/v1beta/models/gemini-x:generateContent", json={})
    chunks = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == "Listing."
    assert [p["functionCall"]["name"] for p in parts if "functionCall" in p] == ["Bash", "Read"]
    assert chunks[-1]["usageMetadata"]["cachedContentTokenCount"] == 8
    assert whole.json()["candidates"][0]["finishReason"] == "STOP"
    assert [r.endpoint for r in fake.requests] == ["streamGenerateContent", "generateContent"]
    assert fake.requests[0].stream and not fake.requests[1].stream


@pytest.mark.parametrize(
    ("api", "exc"),
    [
        ("openai-chat", openai.RateLimitError),
        ("openai-responses", openai.RateLimitError),
    ],
)
def test_openai_errors_carry_the_openai_error_body(api: str, exc: type) -> None:
    with FakeProvider(api, [Reply(status=429, error="slow down")]) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        with pytest.raises(exc) as raised:
            if api == "openai-chat":
                client.chat.completions.create(model="m", messages=[])
            else:
                client.responses.create(model="m", input="hi")
    assert raised.value.status_code == 429
    assert raised.value.body["message"] == "slow down"


def test_gemini_error_shape() -> None:
    with FakeProvider("gemini", [Reply(status=503, error="busy")]) as fake:
        answer = httpx.post(f"{fake.base_url}/v1beta/models/g:generateContent", json={})
    assert answer.status_code == 503
    assert answer.json() == {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}


@pytest.mark.parametrize("api", ["anthropic", "openai-chat", "openai-responses", "gemini"])
def test_a_cut_stream_lacks_its_end_and_an_error_event_replaces_it(api: str) -> None:
    whole = stream_bytes(api, Reply(text="complete answer"))
    cut = stream_bytes(api, Reply(text="complete answer", cut_after=2))
    failed = stream_bytes(api, Reply(text="complete answer", stream_error="overloaded"))
    assert whole.startswith(cut) and len(cut) < len(whole)
    assert b"overloaded" in failed and b"overloaded" not in whole


def test_the_script_runs_out_into_a_400_unless_a_default_answers() -> None:
    with FakeProvider("openai-chat", ["one"]) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        first = client.chat.completions.create(model="m", messages=[])
        with pytest.raises(openai.BadRequestError, match="no reply for chat/completions call #2"):
            client.chat.completions.create(model="m", messages=[])
    assert first.choices[0].message.content == "one"
    with FakeProvider("openai-chat", [], default=Reply(text="always")) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        answer = client.chat.completions.create(model="m", messages=[])
    assert answer.choices[0].message.content == "always"


def test_a_callable_item_sees_the_body_and_unknown_paths_are_404() -> None:
    def echo(body: dict) -> Reply:
        return Reply(text=f"{len(body['messages'])} message(s)")

    with FakeProvider("openai-chat", [echo]) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        answer = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "a"}]
        )
        missing = httpx.post(fake.root + "/v1/embeddings", json={})
    assert answer.choices[0].message.content == "1 message(s)"
    assert missing.status_code == 404 and "no route" in missing.json()["error"]["message"]
    assert [r.endpoint for r in fake.requests] == ["chat/completions", "other"]


def test_unknown_api_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown api 'cohere'"):
        FakeProvider("cohere")
