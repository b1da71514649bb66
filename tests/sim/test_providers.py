"""The simulated providers speak each API's wire format: judged by the official SDKs."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from agentwrap.sim import scenario
from agentwrap.sim.agent import TOOLS
from agentwrap.sim.providers import (
    ANTHROPIC,
    GEMINI,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    SimProviders,
)

APPROVED = "User has approved your plan. You can now start coding."
READ_PARAMS = TOOLS["Read"]["input_schema"]
EXPECTED_READS = ["src/tally/report.py", "src/tally/cli.py"]


def _anthropic(sim: SimProviders, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=sim.base_url("anthropic", ANTHROPIC), api_key="test-key", max_retries=0, **kw
    )


def _openai(sim: SimProviders) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=sim.base_url("openai", OPENAI_CHAT), api_key="test-key", max_retries=0
    )


# ---------------------------------------------------------------- Anthropic Messages


async def test_anthropic_stream_is_a_valid_message_with_parallel_tool_calls(sim) -> None:
    async with _anthropic(sim).messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=2000,
        system=scenario.MAIN_MARK,
        messages=[{"role": "user", "content": APPROVED}],
        tools=[TOOLS["Read"]],
    ) as stream:
        events = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert events[0] == "message_start"
    assert "input_json" in events  # tool arguments arrived as deltas
    assert final.model == "claude-sonnet-4-6"
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "text"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.input["file_path"] for u in uses] == EXPECTED_READS
    assert len({u.id for u in uses}) == 2 and all(u.id.startswith("toolu_") for u in uses)
    assert final.usage.input_tokens > 0
    # Output tokens follow the reply's size (text + tool inputs, ~4 characters a token).
    reply_chars = len(final.content[0].text) + sum(len(json.dumps(u.input)) for u in uses)
    assert reply_chars // 8 < final.usage.output_tokens < reply_chars
    assert sim.received[-1].exchange == "implement-read"


async def test_anthropic_thinking_blocks_only_when_asked(sim) -> None:
    request = {
        "model": "claude-opus-4-8",
        "max_tokens": 4000,
        "system": scenario.MAIN_MARK,
        "messages": [{"role": "user", "content": scenario.PROMPT_FEATURE}],
        "tools": [TOOLS["Agent"]],
    }
    client = _anthropic(sim)
    async with client.messages.stream(
        **request, thinking={"type": "enabled", "budget_tokens": 1024}
    ) as stream:
        thought = await stream.get_final_message()
    plain = await client.messages.create(**request)
    assert thought.content[0].type == "thinking"
    assert thought.content[0].thinking and thought.content[0].signature
    assert [b.type for b in plain.content] == ["text", "tool_use", "tool_use", "tool_use"]
    agents = [b.input for b in plain.content if b.type == "tool_use"]
    assert {a["subagent_type"] for a in agents} == {"Explore"}
    assert [a["prompt"] for a in agents] == list(scenario.EXPLORE_TASKS.values())


async def test_anthropic_web_search_server_tool(sim) -> None:
    async with _anthropic(sim).messages.stream(
        model="claude-haiku-4-5",
        max_tokens=2000,
        system=scenario.SEARCH_MARK,
        messages=[{"role": "user", "content": f"Search the web for: {scenario.SEARCH_QUERY}"}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
        tool_choice={"type": "tool", "name": "web_search"},
    ) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert final.content[0].input == {"query": scenario.SEARCH_QUERY}
    assert [r.url for r in final.content[1].content][0].startswith("https://docs.python.org")
    assert final.stop_reason == "end_turn"
    assert final.usage.server_tool_use.web_search_requests == 1


async def test_anthropic_json_title_answer(sim) -> None:
    message = await _anthropic(sim).messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        system=[{"type": "text", "text": scenario.TITLE_MARK}],
        messages=[{"role": "user", "content": f"<session>{scenario.PROMPT_DOCS}</session>"}],
    )
    assert json.loads(message.content[0].text) == {
        "title": scenario.SESSION_TITLES[scenario.PROMPT_DOCS]
    }
    assert message.stop_reason == "end_turn"


async def test_anthropic_repeated_prefix_is_read_from_cache(sim) -> None:
    long_system = scenario.MAIN_MARK + "\n" + ("Keep the project's style. " * 400)
    request = {
        "max_tokens": 500,
        "system": [{"type": "text", "text": long_system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": APPROVED}],
        "tools": [TOOLS["Read"]],
    }
    client = _anthropic(sim)
    first = await client.messages.create(model="claude-sonnet-4-6", **request)
    second = await client.messages.create(model="claude-sonnet-4-6", **request)
    other_model = await client.messages.create(model="claude-opus-4-8", **request)
    assert first.usage.cache_creation_input_tokens > 1024
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens
    # A cache belongs to one model: switching models writes the prefix again.
    assert other_model.usage.cache_read_input_tokens == 0
    assert other_model.usage.cache_creation_input_tokens == first.usage.cache_creation_input_tokens


async def test_anthropic_tool_the_request_does_not_offer_is_not_called(sim) -> None:
    message = await _anthropic(sim).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        system=scenario.MAIN_MARK,
        messages=[{"role": "user", "content": APPROVED}],
        tools=[TOOLS["Bash"]],
    )
    assert message.stop_reason == "end_turn"
    assert all(b.type == "text" for b in message.content)
    assert "does not offer" in "".join(b.text for b in message.content)


async def test_anthropic_overloaded_once_then_answers(sim) -> None:
    request = {
        "model": "claude-opus-4-8",
        "max_tokens": 500,
        "system": scenario.MAIN_MARK,
        "messages": [{"role": "user", "content": "Nothing covers JSON yet."}],
        "tools": [TOOLS["ExitPlanMode"]],
    }
    client = _anthropic(sim)
    with pytest.raises(anthropic.APIStatusError) as failed:
        await client.messages.create(**request)
    assert failed.value.status_code == 529
    assert failed.value.body["error"]["type"] == "overloaded_error"
    message = await client.messages.create(**request)
    assert message.content[-1].type == "tool_use"
    assert message.content[-1].name == "ExitPlanMode"


async def test_requests_without_a_key_are_refused_in_each_format(sim) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sim.base_url("anthropic", ANTHROPIC) + "/v1/messages", json={"model": "m"}
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["type"] == "authentication_error"
        async with http.post(
            sim.base_url("openai", OPENAI_CHAT) + "/chat/completions", json={"model": "m"}
        ) as resp:
            assert resp.status == 401
            assert "message" in (await resp.json())["error"]
        async with http.post(
            f"{sim.root}/gemini/v1beta/models/gemini-3-flash-preview:generateContent", json={}
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["status"] == "UNAUTHENTICATED"


async def test_unscripted_request_gets_a_plain_answer(sim) -> None:
    message = await _anthropic(sim).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert message.content[0].type == "text"
    assert "no scripted reply" in message.content[0].text
    assert sim.received[-1].exchange is None


# ---------------------------------------------------------------- OpenAI Chat Completions

_CHAT_TOOLS = [{"type": "function", "function": {"name": "Read", "parameters": READ_PARAMS}}]
_CHAT_MESSAGES = [
    {"role": "system", "content": scenario.MAIN_MARK},
    {"role": "user", "content": APPROVED},
]


async def test_openai_chat_stream_tool_calls_and_usage(sim) -> None:
    stream = await _openai(sim).chat.completions.create(
        model="gpt-5-mini",
        messages=_CHAT_MESSAGES,
        tools=_CHAT_TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    calls: dict[int, dict[str, str]] = {}
    text, finish, usage, chunks = "", None, None, 0
    async for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += tc.id or ""
                slot["name"] += tc.function.name or "" if tc.function else ""
                slot["arguments"] += (tc.function.arguments or "") if tc.function else ""
    assert finish == "tool_calls"
    assert text.startswith("Starting with")
    assert [calls[i]["name"] for i in sorted(calls)] == ["Read", "Read"]
    assert [json.loads(calls[i]["arguments"])["file_path"] for i in sorted(calls)] == (
        EXPECTED_READS
    )
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert chunks > 4  # really streamed, in pieces
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_openai_chat_usage_only_when_asked(sim) -> None:
    stream = await _openai(sim).chat.completions.create(
        model="gpt-5-mini", messages=_CHAT_MESSAGES, tools=_CHAT_TOOLS, stream=True
    )
    assert all([c.usage is None async for c in stream])


async def test_openai_chat_whole_response_and_implicit_cache(sim) -> None:
    messages = [
        {"role": "system", "content": scenario.MAIN_MARK + " " + "Be careful. " * 600},
        {"role": "user", "content": APPROVED},
    ]
    client = _openai(sim)
    first = await client.chat.completions.create(
        model="gpt-5-mini", messages=messages, tools=_CHAT_TOOLS
    )
    second = await client.chat.completions.create(
        model="gpt-5-mini", messages=messages, tools=_CHAT_TOOLS
    )
    assert first.choices[0].finish_reason == "tool_calls"
    names = [tc.function.name for tc in first.choices[0].message.tool_calls]
    assert names == ["Read", "Read"]
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0 and cached <= second.usage.prompt_tokens


# ---------------------------------------------------------------- OpenAI Responses


async def test_openai_responses_stream(sim) -> None:
    client = openai.AsyncOpenAI(
        base_url=sim.base_url("openai", OPENAI_RESPONSES), api_key="k", max_retries=0
    )
    kinds: list[str] = []
    async with client.responses.stream(
        model="gpt-5.1",
        instructions=scenario.MAIN_MARK,
        input=[{"role": "user", "content": APPROVED}],
        tools=[{"type": "function", "name": "Read", "parameters": READ_PARAMS, "strict": False}],
    ) as stream:
        async for event in stream:
            kinds.append(event.type)
        final = await stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds
    assert "response.output_text.delta" in kinds
    assert final.status == "completed"
    assert final.output_text.startswith("Starting with")
    calls = [item for item in final.output if item.type == "function_call"]
    assert [json.loads(c.arguments)["file_path"] for c in calls] == EXPECTED_READS
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


async def test_openai_responses_whole(sim) -> None:
    client = openai.AsyncOpenAI(
        base_url=sim.base_url("openai", OPENAI_RESPONSES), api_key="k", max_retries=0
    )
    response = await client.responses.create(
        model="gpt-5.1",
        instructions=scenario.MAIN_MARK,
        input=scenario.PROMPT_DOCS,
        tools=[{"type": "function", "name": "Read", "parameters": READ_PARAMS, "strict": False}],
    )
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert call.name == "Read" and json.loads(call.arguments) == {"file_path": "README.md"}


# ---------------------------------------------------------------- Gemini

_GEMINI_BODY = {
    "systemInstruction": {"parts": [{"text": scenario.MAIN_MARK}]},
    "contents": [{"role": "user", "parts": [{"text": APPROVED}]}],
    "tools": [{"functionDeclarations": [{"name": "Read", "parameters": READ_PARAMS}]}],
}


async def test_gemini_stream_generate_content(sim) -> None:
    url = f"{sim.root}/gemini/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"
    chunks: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=_GEMINI_BODY, headers={"x-goog-api-key": "k"}) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data: "):
                chunks.append(json.loads(line[6:]))
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    text = "".join(p.get("text", "") for p in parts)
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert text.startswith("Starting with")
    assert [c["args"]["file_path"] for c in calls] == EXPECTED_READS
    assert all(c["candidates"][0]["content"]["role"] == "model" for c in chunks)
    # Only the last chunk finishes and carries the usage.
    assert [("finishReason" in c["candidates"][0]) for c in chunks][-1] is True
    assert not any("usageMetadata" in c for c in chunks[:-1])
    usage = chunks[-1]["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert chunks[-1]["modelVersion"] == "gemini-3-flash-preview"


async def test_gemini_generate_content(sim) -> None:
    url = f"{sim.root}/gemini/v1beta/models/gemini-3-flash-preview:generateContent"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=_GEMINI_BODY, headers={"x-goog-api-key": "k"}) as resp,
    ):
        doc = await resp.json()
    candidate = doc["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert [p["functionCall"]["name"] for p in candidate["content"]["parts"][1:]] == [
        "Read",
        "Read",
    ]
    assert doc["usageMetadata"]["promptTokenCount"] > 0
    assert sim.received[-1].api == GEMINI and not sim.received[-1].stream


# ---------------------------------------------------------------- latency


async def test_latency_follows_the_model_class_and_speed() -> None:
    sim = SimProviders(speed=4)
    await sim.start()
    try:
        client = _anthropic(sim)

        async def first_event(model: str) -> float:
            t0 = time.monotonic()
            async with client.messages.stream(
                model=model,
                max_tokens=100,
                messages=[{"role": "user", "content": "hello"}],
            ) as stream:
                async for _ in stream:
                    return time.monotonic() - t0
            raise AssertionError("no events")

        opus = await first_event("claude-opus-4-8")
        haiku = await first_event("claude-haiku-4-5")
    finally:
        await sim.stop()
    assert opus >= 1.6 / 4  # a frontier model takes longer to start
    assert haiku >= 0.45 / 4
    assert haiku < opus
