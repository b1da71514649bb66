"""A Gemini-speaking agent (as Gemini CLI talks) routed to other providers, over real HTTP.

No official Gemini SDK is installed here, so the checks read the SSE the way Gemini CLI does:
one GenerateContentResponse per `data:` line, parts concatenated, the last chunk's
finishReason and usageMetadata.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from agentwrap.fakes.provider import Call, FakeProvider, Reply
from tests.wire.bridge import Bridge

GEMINI_TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "run_shell_command",
                "description": "Run a command",
                "parametersJsonSchema": {
                    "type": "object",
                    "properties": {"command": {"type": "string"}},
                    "required": ["command"],
                },
            },
        ]
    }
]


async def _stream(bridge: Bridge, body: dict) -> list[dict]:
    url = f"{bridge.root}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = await resp.read()
    chunks = []
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            chunks.append(json.loads(line[6:]))
    return chunks


@pytest.mark.parametrize("upstream", ["anthropic", "openai-chat", "openai-responses"])
async def test_gemini_agent_tool_loop(upstream: str) -> None:
    first = Reply(
        reasoning="Need to look.",
        text="Listing.",
        tool_calls=[Call("run_shell_command", {"command": "ls"})],
        usage={"input": 40, "output": 10, "cache_read": 8},
    )
    async with (
        FakeProvider(upstream, [first, Reply(text="There are 3 files.")]) as fake,
        Bridge("gemini", fake) as bridge,
    ):
        contents = [{"role": "user", "parts": [{"text": "what is here?"}]}]
        body = {
            "contents": contents,
            "tools": GEMINI_TOOLS,
            "systemInstruction": {"parts": [{"text": "You are Gemini CLI."}]},
            "generationConfig": {
                "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}
            },
        }
        chunks = await _stream(bridge, body)
        parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
        thought = "".join(p["text"] for p in parts if p.get("thought"))
        text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
        calls = [p["functionCall"] for p in parts if "functionCall" in p]
        assert thought == "Need to look." and text == "Listing."
        assert [(c["name"], c["args"]) for c in calls] == [("run_shell_command", {"command": "ls"})]
        last = chunks[-1]
        assert last["candidates"][0]["finishReason"] == "STOP"
        assert last["usageMetadata"]["promptTokenCount"] == 48
        assert last["usageMetadata"]["cachedContentTokenCount"] == 8
        assert last["modelVersion"] == "gemini-2.5-pro"
        # Next turn, as Gemini CLI sends it: the model turn back, then the function response.
        contents.append({"role": "model", "parts": parts})
        contents.append(
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": calls[0].get("id"),
                            "name": "run_shell_command",
                            "response": {"output": "a b c"},
                        }
                    }
                ],
            }
        )
        chunks = await _stream(bridge, body)
        text = "".join(
            p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]
        )
        assert text == "There are 3 files."
    sent = fake.requests[1].body
    first_sent = fake.requests[0].body
    assert first_sent.get("stream") is True
    if upstream == "anthropic":
        use = sent["messages"][1]["content"][-1]
        result = sent["messages"][2]["content"][0]
        assert use["type"] == "tool_use" and result["tool_use_id"] == use["id"]
        # The reasoning and its signature, carried through Gemini CLI's history, are whole again.
        assert sent["messages"][1]["content"][0] == {
            "type": "thinking",
            "thinking": "Need to look.",
            "signature": "sig",
        }
        assert result["content"] == [{"type": "text", "text": "a b c"}]
        assert sent["system"][0]["text"] == "You are Gemini CLI."
    elif upstream == "openai-chat":
        tool = next(m for m in sent["messages"] if m["role"] == "tool")
        assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
        assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
        assert assistant["reasoning_content"] == "Need to look."
    else:
        fc = next(i for i in sent["input"] if i["type"] == "function_call")
        out = next(i for i in sent["input"] if i["type"] == "function_call_output")
        assert fc["call_id"] == out["call_id"] and out["output"] == "a b c"
        reasoning = [i for i in sent["input"] if i["type"] == "reasoning"]
        assert reasoning and reasoning[0]["encrypted_content"] == "enc"


async def test_gemini_agent_whole_response_and_error() -> None:
    script = [Reply(text="Plain."), Reply(status=429, error="Too many tokens per minute")]
    async with FakeProvider("openai-chat", script) as fake, Bridge("gemini", fake) as bridge:
        url = f"{bridge.root}/v1beta/models/gemini-2.5-flash:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=body) as resp:
                doc = await resp.json()
            async with session.post(url, json=body) as resp:
                err = await resp.json()
                status = resp.status
    assert doc["candidates"][0]["content"]["parts"] == [{"text": "Plain."}]
    assert doc["candidates"][0]["finishReason"] == "STOP"
    assert status == 429
    assert err["error"] == {
        "code": 429,
        "message": "Too many tokens per minute",
        "status": "RESOURCE_EXHAUSTED",
    }


async def test_fake_provider_script_callables_and_first_byte_delay() -> None:
    import time

    def answer(body: dict) -> Reply:
        return Reply(text=f"saw {len(body['messages'])} message(s)", first_byte_delay=0.2)

    async with FakeProvider("openai-chat", [answer]) as fake, aiohttp.ClientSession() as s:
        t0 = time.monotonic()
        async with s.post(
            fake.base_url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        ) as r:
            doc = await r.json()
        assert time.monotonic() - t0 >= 0.2
    assert doc["choices"][0]["message"]["content"] == "saw 1 message(s)"
    assert fake.requests[0].path == "/v1/chat/completions"
