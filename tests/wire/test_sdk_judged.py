"""The official SDKs judge translated traffic: agent SDK -> translating relay -> fake provider.

Each agent API is exercised against every other provider API with plain text, several
parallel tool calls, tool results in the following turn, reasoning, an image, and upstream
errors (an HTTP error, an HTML error page, an error inside the stream, a stream cut short).
"""

from __future__ import annotations

import base64
import json

import anthropic
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.wire.bridge import Bridge

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2e1"
        "a9c30000000049454e44ae426082"
    )
).decode()
BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "the command"},
            "timeout": {"type": ["integer", "null"]},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}
READ = {
    "name": "mcp__filesystem_server__read_text_file_with_a_really_long_descriptive_name",
    "description": "Read a file",
    "schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["path"],
    },
}
TWO_CALLS = [
    Call("Bash", {"command": "ls -la", "timeout": None}),
    Call(READ["name"], {"path": "src/main.py", "limit": 20}),
]
ERR_HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"


def _provider_tool_names(fake: FakeProvider, i: int = 0) -> list[str]:
    body = fake.requests[i].body
    if fake.api == "anthropic":
        return [t["name"] for t in body["tools"]]
    if fake.api == "openai-chat":
        return [t["function"]["name"] for t in body["tools"]]
    if fake.api == "openai-responses":
        return [t["name"] for t in body["tools"]]
    return [d["name"] for d in body["tools"][0]["functionDeclarations"]]


def _check_sent_tools(fake: FakeProvider) -> None:
    names = _provider_tool_names(fake)
    assert names[0] == "Bash"
    if fake.api == "anthropic":
        assert names[1] == READ["name"]
    else:  # over OpenAI's and Gemini's 64-character limit: mapped, then restored in answers
        assert names[1] != READ["name"] and len(names[1]) <= 64
        assert names[1].startswith("mcp__filesystem_server__")


# =========================================================================== Anthropic agent

UPSTREAMS_FOR_ANTHROPIC = ["openai-chat", "openai-responses", "gemini"]
A_TOOLS = [
    {"name": t["name"], "description": t["description"], "input_schema": t["schema"]}
    for t in (BASH, READ)
]


def _a_client(bridge: Bridge) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=bridge.root, api_key="sk-ant-test", max_retries=0)


async def _a_stream(bridge: Bridge, **kw: object) -> anthropic.types.Message:
    client = _a_client(bridge)
    kw.setdefault("model", "claude-test-model")
    kw.setdefault("max_tokens", 2048)
    async with client.messages.stream(**kw) as stream:  # type: ignore[arg-type]
        return await stream.get_final_message()


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_ANTHROPIC)
async def test_anthropic_sdk_text(upstream: str) -> None:
    usage = {"input": 120, "output": 9, "cache_read": 64}
    async with (
        FakeProvider(upstream, [Reply(text="Hello from a routed model.", usage=usage)]) as fake,
        Bridge("anthropic", fake) as bridge,
    ):
        msg = await _a_stream(
            bridge,
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "hi"}],
        )
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Hello from a routed model."
    assert msg.stop_reason == "end_turn"
    assert msg.model == "claude-test-model"
    assert msg.usage.input_tokens == 120
    assert msg.usage.cache_read_input_tokens == 64
    assert msg.usage.output_tokens == 9
    (call,) = bridge.calls()
    assert (call["input_tokens"], call["cache_read_tokens"], call["output_tokens"]) == (120, 64, 9)
    assert call["stop_reason"] == "end_turn" and call["provider_api"] == upstream
    sent = json.dumps(fake.requests[0].body)
    assert "Be brief." in sent and "cache_control" not in sent


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_ANTHROPIC)
async def test_anthropic_sdk_parallel_tool_calls_then_results(upstream: str) -> None:
    from agentwrap.wire.names import TOOL_NAMES

    # The scripted model answers with the names it was sent (the long one arrives mapped).
    mapped = TOOL_NAMES.to_provider(READ["name"], upstream)
    first = Reply(
        text="Let me look.", tool_calls=[TWO_CALLS[0], Call(mapped, TWO_CALLS[1].arguments)]
    )
    async with (
        FakeProvider(upstream, [first, Reply(text="Both done.")]) as fake,
        Bridge("anthropic", fake) as bridge,
    ):
        messages: list[dict] = [{"role": "user", "content": "list and read"}]
        msg = await _a_stream(bridge, tools=A_TOOLS, messages=messages)
        _check_sent_tools(fake)
        assert [b.type for b in msg.content] == ["text", "tool_use", "tool_use"]
        assert msg.stop_reason == "tool_use"
        calls = [b for b in msg.content if b.type == "tool_use"]
        assert [c.name for c in calls] == ["Bash", READ["name"]]
        assert calls[0].input == {"command": "ls -la", "timeout": None}
        assert calls[1].input == {"path": "src/main.py", "limit": 20}
        assert len({c.id for c in calls}) == 2 and all(c.id for c in calls)

        messages.append({"role": "assistant", "content": [b.model_dump() for b in msg.content]})
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": calls[0].id,
                        "content": [{"type": "text", "text": "a.txt\nb.txt"}],
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": calls[1].id,
                        "is_error": True,
                        "content": "ENOENT: no such file",
                    },
                ],
            }
        )
        final = await _a_stream(bridge, tools=A_TOOLS, messages=messages)
    assert final.content[0].text == "Both done."
    second = fake.requests[1].body
    ids = [c.id for c in calls]
    if upstream == "openai-chat":
        assistant = next(m for m in second["messages"] if m["role"] == "assistant")
        assert [tc["id"] for tc in assistant["tool_calls"]] == ids
        tools = [m for m in second["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tools] == ids
        assert tools[0]["content"] == "a.txt\nb.txt" and "ENOENT" in tools[1]["content"]
    elif upstream == "openai-responses":
        fcs = [i for i in second["input"] if i["type"] == "function_call"]
        outs = [i for i in second["input"] if i["type"] == "function_call_output"]
        assert [i["call_id"] for i in fcs] == ids == [i["call_id"] for i in outs]
        assert [i["name"] for i in fcs] == ["Bash", mapped]
        assert json.loads(fcs[1]["arguments"]) == {"path": "src/main.py", "limit": 20}
        assert "ENOENT" in outs[1]["output"]
    else:
        parts = [p for c in second["contents"] for p in c["parts"]]
        fcalls = [p["functionCall"] for p in parts if "functionCall" in p]
        responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
        assert [f["name"] for f in fcalls] == ["Bash", mapped]
        assert [r["name"] for r in responses] == ["Bash", mapped]
        assert responses[0]["response"] == {"output": "a.txt\nb.txt"}
        assert "ENOENT" in responses[1]["response"]["error"]
        params = second["tools"][0]["functionDeclarations"][0]["parameters"]
        assert "additionalProperties" not in json.dumps(params)
        assert params["properties"]["timeout"] == {"type": "integer", "nullable": True}


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_ANTHROPIC)
async def test_anthropic_sdk_thinking_round_trip(upstream: str) -> None:
    reply = Reply(
        reasoning="The user wants files listed; use Bash.",
        signature="opaque-reasoning-token-123",
        tool_calls=[Call("Bash", {"command": "ls"})],
    )
    async with (
        FakeProvider(upstream, [reply, Reply(text="ok")]) as fake,
        Bridge("anthropic", fake) as bridge,
    ):
        messages: list[dict] = [{"role": "user", "content": "list files"}]
        kw = {"thinking": {"type": "enabled", "budget_tokens": 4096}, "tools": A_TOOLS[:1]}
        msg = await _a_stream(bridge, messages=messages, **kw)
        thinking = [b for b in msg.content if b.type == "thinking"]
        assert any(b.thinking == reply.reasoning for b in thinking)
        assert msg.content[-1].type == "tool_use" and msg.stop_reason == "tool_use"
        messages.append({"role": "assistant", "content": [b.model_dump() for b in msg.content]})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": msg.content[-1].id, "content": "x.py"}
                ],
            }
        )
        await _a_stream(bridge, messages=messages, **kw)
    first, second = fake.requests[0].body, fake.requests[1].body
    if upstream == "openai-chat":
        assert first["reasoning_effort"] in ("low", "medium")
        assistant = next(m for m in second["messages"] if m["role"] == "assistant")
        assert assistant["reasoning_content"] == reply.reasoning
    elif upstream == "openai-responses":
        assert first["include"] == ["reasoning.encrypted_content"] and first["store"] is False
        items = [i for i in second["input"] if i["type"] == "reasoning"]
        assert items and items[0]["encrypted_content"] == "opaque-reasoning-token-123"
        assert items[0]["id"] == "rs_fake1"
    else:
        assert first["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 4096
        parts = [p for c in second["contents"] if c["role"] == "model" for p in c["parts"]]
        call = next(p for p in parts if "functionCall" in p)
        assert call["thoughtSignature"] == "opaque-reasoning-token-123"


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_ANTHROPIC)
async def test_anthropic_sdk_image_in_request(upstream: str) -> None:
    async with (
        FakeProvider(upstream, [Reply(text="A single pixel.")]) as fake,
        Bridge("anthropic", fake) as bridge,
    ):
        msg = await _a_stream(
            bridge,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
        )
    assert msg.content[0].text == "A single pixel."
    sent = fake.requests[0].body
    if upstream == "openai-chat":
        part = sent["messages"][0]["content"][0]
        assert part["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    elif upstream == "openai-responses":
        part = sent["input"][0]["content"][0]
        assert part["type"] == "input_image" and part["image_url"].endswith(PNG)
    else:
        part = sent["contents"][0]["parts"][0]
        assert part["inlineData"] == {"mimeType": "image/png", "data": PNG}


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_ANTHROPIC)
async def test_anthropic_sdk_upstream_errors(upstream: str) -> None:
    script = [
        Reply(status=429, error="Rate limit reached for requests, slow down"),
        Reply(status=502, error_body=ERR_HTML, content_type="text/html"),
        Reply(text="partial answer that", stream_error="upstream overloaded mid-answer"),
        Reply(text="a longer partial answer that will be cut", cut_after=3),
    ]
    async with FakeProvider(upstream, script) as fake, Bridge("anthropic", fake) as bridge:
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(anthropic.RateLimitError) as rate:
            await _a_stream(bridge, messages=messages)
        assert "slow down" in str(rate.value)
        with pytest.raises(anthropic.InternalServerError) as page:
            await _a_stream(bridge, messages=messages)
        assert "502 Bad Gateway" in str(page.value) and "<html" not in str(page.value)
        with pytest.raises(anthropic.APIStatusError) as mid:
            await _a_stream(bridge, messages=messages)
        assert "upstream overloaded mid-answer" in str(mid.value)
        with pytest.raises(anthropic.APIStatusError) as cut:
            await _a_stream(bridge, messages=messages)
        assert "ended before the answer was complete" in str(cut.value)


async def test_anthropic_server_tool_is_rerouted_to_anthropic_visibly() -> None:
    # Web search runs on Anthropic's side only: the proxy does not translate such a call to
    # another API, it sends it to the agent's own Anthropic provider and says so.
    search_reply = Reply(text="Search results: ...", usage={"input": 30, "output": 6})
    async with (
        FakeProvider("openai-chat", []) as fake,
        FakeProvider("anthropic", [search_reply]) as own,
        Bridge("anthropic", fake, anthropic_upstream=own.base_url) as bridge,
    ):
        msg = await _a_stream(
            bridge,
            tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
            messages=[{"role": "user", "content": "search the web"}],
        )
        (call,) = bridge.calls()
    assert msg.content[0].text == "Search results: ..."
    assert fake.requests == []
    assert own.requests[0].body["tools"][0]["type"] == "web_search_20250305"
    assert call["provider_api"] == "anthropic" and "server tool" in call["reason"]


# =========================================================================== OpenAI Chat agent

UPSTREAMS_FOR_CHAT = ["anthropic", "openai-responses", "gemini"]
C_TOOLS = [
    {
        "type": "function",
        "function": {"name": t["name"], "description": t["description"], "parameters": t["schema"]},
    }
    for t in (BASH, READ)
]


async def _c_stream(bridge: Bridge, **kw: object):  # type: ignore[no-untyped-def]
    client = openai.AsyncOpenAI(base_url=bridge.root + "/v1", api_key="sk-test", max_retries=0)
    kw.setdefault("model", "gpt-test")
    state = ChatCompletionStreamState()
    stream = await client.chat.completions.create(
        stream=True,
        stream_options={"include_usage": True},
        **kw,  # type: ignore[arg-type]
    )
    raw = []
    async for chunk in stream:
        raw.append(chunk)
        state.handle_chunk(chunk)
    return state.get_final_completion(), raw


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_CHAT)
async def test_chat_sdk_text_and_usage(upstream: str) -> None:
    usage = {"input": 50, "output": 12, "cache_read": 30}
    async with (
        FakeProvider(upstream, [Reply(text="Hi there, from elsewhere.", usage=usage)]) as fake,
        Bridge("openai-chat", fake) as bridge,
    ):
        done, _ = await _c_stream(
            bridge,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
        )
    choice = done.choices[0]
    assert choice.message.content == "Hi there, from elsewhere."
    assert choice.finish_reason == "stop"
    assert done.usage.prompt_tokens == 80
    assert done.usage.prompt_tokens_details.cached_tokens == 30
    assert done.usage.completion_tokens == 12
    assert done.model == "gpt-test"
    sent = fake.requests[0].body
    if upstream == "anthropic":
        # Chat agents mark no cache breakpoints: the translation adds them.
        eph = {"type": "ephemeral"}
        assert sent["system"] == [{"type": "text", "text": "Be brief.", "cache_control": eph}]
        assert sent["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": eph}]}
        ]


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_CHAT)
async def test_chat_sdk_parallel_tools_then_results(upstream: str) -> None:
    from agentwrap.wire.names import TOOL_NAMES

    mapped = TOOL_NAMES.to_provider(READ["name"], upstream)
    first = Reply(tool_calls=[TWO_CALLS[0], Call(mapped, TWO_CALLS[1].arguments)])
    async with (
        FakeProvider(upstream, [first, Reply(text="All good.")]) as fake,
        Bridge("openai-chat", fake) as bridge,
    ):
        messages: list[dict] = [{"role": "user", "content": "go"}]
        done, _ = await _c_stream(bridge, messages=messages, tools=C_TOOLS)
        choice = done.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls
        assert [c.function.name for c in calls] == ["Bash", READ["name"]]
        assert json.loads(calls[0].function.arguments) == {"command": "ls -la", "timeout": None}
        assert json.loads(calls[1].function.arguments) == {"path": "src/main.py", "limit": 20}
        ids = [c.id for c in calls]
        assert len(set(ids)) == 2
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": ids[0], "content": "a.txt"})
        messages.append({"role": "tool", "tool_call_id": ids[1], "content": "def main(): ..."})
        done2, _ = await _c_stream(bridge, messages=messages, tools=C_TOOLS)
    assert done2.choices[0].message.content == "All good."
    second = fake.requests[1].body
    if upstream == "anthropic":
        assistant, results = second["messages"][1], second["messages"][2]
        assert [b["id"] for b in assistant["content"] if b["type"] == "tool_use"] == ids
        assert [b["tool_use_id"] for b in results["content"]] == ids
        assert results["content"][1]["content"] == [{"type": "text", "text": "def main(): ..."}]
        assert [t["name"] for t in second["tools"]] == ["Bash", READ["name"]]
    elif upstream == "openai-responses":
        outs = [i for i in second["input"] if i["type"] == "function_call_output"]
        assert [o["call_id"] for o in outs] == ids
    else:
        parts = second["contents"][2]["parts"]
        assert [p["functionResponse"]["name"] for p in parts] == ["Bash", mapped]


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_CHAT)
async def test_chat_sdk_reasoning_and_image(upstream: str) -> None:
    reply = Reply(reasoning="Looking at the pixel.", signature="sig-abc", text="It is a pixel.")
    async with FakeProvider(upstream, [reply]) as fake, Bridge("openai-chat", fake) as bridge:
        done, raw = await _c_stream(
            bridge,
            reasoning_effort="high",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ],
        )
    assert done.choices[0].message.content == "It is a pixel."
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in raw if c.choices
    )
    assert reasoning == "Looking at the pixel."
    sent = fake.requests[0].body
    if upstream == "anthropic":
        image = sent["messages"][0]["content"][1]
        assert image["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    elif upstream == "openai-responses":
        assert sent["reasoning"]["effort"] == "high"
        assert sent["input"][0]["content"][1]["image_url"].endswith(PNG)
    else:
        assert sent["contents"][0]["parts"][1]["inlineData"]["data"] == PNG


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_CHAT)
async def test_chat_sdk_upstream_errors(upstream: str) -> None:
    script = [
        Reply(status=429, error="Too many requests, try later"),
        Reply(status=502, error_body=ERR_HTML, content_type="text/html"),
        Reply(text="partial", stream_error="overloaded in the middle"),
    ]
    async with FakeProvider(upstream, script) as fake, Bridge("openai-chat", fake) as bridge:
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(openai.RateLimitError) as rate:
            await _c_stream(bridge, messages=messages)
        assert "Too many requests" in str(rate.value)
        with pytest.raises(openai.InternalServerError) as page:
            await _c_stream(bridge, messages=messages)
        assert "502 Bad Gateway" in str(page.value)
        with pytest.raises(openai.APIError) as mid:
            await _c_stream(bridge, messages=messages)
        assert "overloaded in the middle" in str(mid.value)


# =========================================================================== Responses agent

UPSTREAMS_FOR_RESPONSES = ["anthropic", "openai-chat", "gemini"]
R_TOOLS = [
    {
        "type": "function",
        "name": t["name"],
        "description": t["description"],
        "parameters": t["schema"],
        "strict": False,
    }
    for t in (BASH, READ)
]


async def _r_stream(bridge: Bridge, **kw: object):  # type: ignore[no-untyped-def]
    client = openai.AsyncOpenAI(base_url=bridge.root + "/v1", api_key="sk-test", max_retries=0)
    kw.setdefault("model", "gpt-5-codex")
    async with client.responses.stream(**kw) as stream:  # type: ignore[arg-type]
        return await stream.get_final_response()


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_RESPONSES)
async def test_responses_sdk_text(upstream: str) -> None:
    usage = {"input": 70, "output": 4, "cache_read": 20}
    async with (
        FakeProvider(upstream, [Reply(text="Answer from afar.", usage=usage)]) as fake,
        Bridge("openai-responses", fake) as bridge,
    ):
        final = await _r_stream(
            bridge,
            instructions="You are a coding agent.",
            input=[
                {"role": "developer", "content": "Use tools."},
                {"role": "user", "content": "hello"},
            ],
            store=False,
        )
    assert final.output_text == "Answer from afar."
    assert final.status == "completed"
    assert final.usage.input_tokens == 90 and final.usage.output_tokens == 4
    assert final.usage.input_tokens_details.cached_tokens == 20
    sent = json.dumps(fake.requests[0].body)
    assert "You are a coding agent." in sent and "Use tools." in sent


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_RESPONSES)
async def test_responses_sdk_parallel_tools_then_results(upstream: str) -> None:
    from agentwrap.wire.names import TOOL_NAMES

    mapped = TOOL_NAMES.to_provider(READ["name"], upstream)
    first = Reply(text="Checking.", tool_calls=[TWO_CALLS[0], Call(mapped, TWO_CALLS[1].arguments)])
    async with (
        FakeProvider(upstream, [first, Reply(text="Finished.")]) as fake,
        Bridge("openai-responses", fake) as bridge,
    ):
        items: list[dict] = [{"role": "user", "content": "do it"}]
        final = await _r_stream(bridge, input=items, tools=R_TOOLS)
        calls = [o for o in final.output if o.type == "function_call"]
        assert [c.name for c in calls] == ["Bash", READ["name"]]
        assert json.loads(calls[0].arguments) == {"command": "ls -la", "timeout": None}
        assert json.loads(calls[1].arguments) == {"path": "src/main.py", "limit": 20}
        assert final.output_text == "Checking."
        items += [o.model_dump(exclude_none=True) for o in final.output]
        items.append(
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "a.txt"}
        )
        items.append(
            {"type": "function_call_output", "call_id": calls[1].call_id, "output": "print('hi')"}
        )
        final2 = await _r_stream(bridge, input=items, tools=R_TOOLS)
    assert final2.output_text == "Finished."
    second = fake.requests[1].body
    ids = [c.call_id for c in calls]
    if upstream == "anthropic":
        uses = [b for m in second["messages"] for b in m["content"] if b["type"] == "tool_use"]
        results = [
            b for m in second["messages"] for b in m["content"] if b["type"] == "tool_result"
        ]
        assert [u["id"] for u in uses] == ids == [r["tool_use_id"] for r in results]
    elif upstream == "openai-chat":
        tools = [m for m in second["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tools] == ids
        assert [t["function"]["name"] for t in second["tools"]] == ["Bash", mapped]
    else:
        parts = [p for c in second["contents"] for p in c["parts"] if "functionResponse" in p]
        assert [p["functionResponse"]["response"]["output"] for p in parts] == [
            "a.txt",
            "print('hi')",
        ]


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_RESPONSES)
async def test_responses_sdk_reasoning_round_trip_and_image(upstream: str) -> None:
    reply = Reply(
        reasoning="Think about the pixel.",
        signature="sig-xyz-789",
        tool_calls=[Call("Bash", {"command": "file x.png"})],
    )
    async with (
        FakeProvider(upstream, [reply, Reply(text="done")]) as fake,
        Bridge("openai-responses", fake) as bridge,
    ):
        items: list[dict] = [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            }
        ]
        final = await _r_stream(
            bridge,
            input=items,
            tools=R_TOOLS[:1],
            reasoning={"effort": "medium"},
            include=["reasoning.encrypted_content"],
            store=False,
        )
        reasoning = [o for o in final.output if o.type == "reasoning"]
        assert reasoning and reasoning[0].summary[0].text == reply.reasoning
        call = next(o for o in final.output if o.type == "function_call")
        items += [o.model_dump(exclude_none=True) for o in final.output]
        items.append({"type": "function_call_output", "call_id": call.call_id, "output": "PNG"})
        await _r_stream(bridge, input=items, tools=R_TOOLS[:1], reasoning={"effort": "medium"})
    first, second = fake.requests[0].body, fake.requests[1].body
    if upstream == "anthropic":
        assert first["messages"][0]["content"][1]["source"]["data"] == PNG
        thinking = second["messages"][1]["content"][0]
        assert thinking == {
            "type": "thinking",
            "thinking": reply.reasoning,
            "signature": "sig-xyz-789",
        }
    elif upstream == "openai-chat":
        assert first["messages"][0]["content"][1]["image_url"]["url"].endswith(PNG)
        assert second["messages"][1]["reasoning_content"] == reply.reasoning
    else:
        assert first["contents"][0]["parts"][1]["inlineData"]["data"] == PNG
        model_parts = second["contents"][1]["parts"]
        fc = next(p for p in model_parts if "functionCall" in p)
        assert fc["thoughtSignature"] == "sig-xyz-789"


@pytest.mark.parametrize("upstream", UPSTREAMS_FOR_RESPONSES)
async def test_responses_sdk_upstream_errors(upstream: str) -> None:
    script = [
        Reply(status=429, error="quota exceeded for now"),
        Reply(text="partial", stream_error="overloaded halfway"),
    ]
    async with FakeProvider(upstream, script) as fake, Bridge("openai-responses", fake) as bridge:
        with pytest.raises(openai.RateLimitError) as rate:
            await _r_stream(bridge, input="hi")
        assert "quota exceeded" in str(rate.value)
        client = openai.AsyncOpenAI(base_url=bridge.root + "/v1", api_key="k", max_retries=0)
        async with client.responses.stream(model="gpt-5-codex", input="hi") as stream:
            events = [e async for e in stream]
            with pytest.raises(RuntimeError):
                await stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.output_text.delta" in kinds
    assert kinds[-2:] == ["error", "response.failed"]
    assert events[-2].message == "overloaded halfway"
    assert events[-1].response.error.message == "overloaded halfway"
