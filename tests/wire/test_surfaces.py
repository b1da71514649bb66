"""Unit tests of the four surfaces and the translate entry points."""

from __future__ import annotations

import json

import pytest

from agentwrap.fakes.provider import Call, Reply, whole_body
from agentwrap.wire import translate as t
from agentwrap.wire.common import Usage
from agentwrap.wire.names import TOOL_NAMES
from agentwrap.wire.schema import sanitize_for_gemini

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"


def test_upstream_paths() -> None:
    assert t.upstream_path("anthropic", "m", True) == "/v1/messages"
    assert t.upstream_path("openai-chat", "m", False) == "/chat/completions"
    assert t.upstream_path("openai-responses", "m", True) == "/responses"
    assert t.upstream_path("gemini", "gemini-2.5-flash", True) == (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert t.upstream_path("gemini", "g", False) == "/v1beta/models/g:generateContent"


def test_same_api_only_changes_the_model() -> None:
    body = {"model": "a", "messages": [], "unknown_field": {"x": 1}}
    out = t.translate_request(body, "anthropic", "anthropic", "b")
    assert out == {"model": "b", "messages": [], "unknown_field": {"x": 1}}
    assert body["model"] == "a"


# ------------------------------------------------------------------ Anthropic requests


CLAUDE_CODE_LIKE = {
    "model": "claude-test",
    "max_tokens": 32000,
    "stream": True,
    "system": "Top system.",
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "high"},
    "messages": [
        {"role": "user", "content": "hello"},
        {"role": "system", "content": "Plan mode is on."},
        {
            "role": "assistant",
            "content": [
                {"type": "redacted_thinking", "data": "ENCRYPTED"},
                {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": "a.pdf"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [
                        {"type": "text", "text": "here is the page"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                    ],
                },
                {
                    "type": "document",
                    "title": "spec.pdf",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"},
                },
            ],
        },
    ],
    "tools": [
        {
            "name": "Read",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        }
    ],
}


def test_anthropic_to_chat_keeps_mid_system_images_documents() -> None:
    out = t.translate_request(CLAUDE_CODE_LIKE, "anthropic", "openai-chat", "deepseek-chat")
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "system", "assistant", "tool", "user"]
    assert out["messages"][2]["content"] == "Plan mode is on."
    assistant = out["messages"][3]
    assert "reasoning_content" not in assistant  # redacted thinking has no text to give
    assert out["messages"][4] == {
        "role": "tool",
        "tool_call_id": "toolu_01",
        "content": "here is the page",
    }
    user = out["messages"][5]["content"]
    assert user[1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"  # the tool's image
    assert user[2]["file"] == {
        "filename": "spec.pdf",
        "file_data": f"data:application/pdf;base64,{PDF}",
    }
    assert user[3] == {"type": "text", "text": "plain notes"}
    assert out["max_tokens"] == 8192 and out["reasoning_effort"] == "high"  # DeepSeek caps at 8K
    assert out["stream_options"] == {"include_usage": True}


def test_anthropic_to_responses_and_gemini_keep_tool_result_images() -> None:
    resp = t.translate_request(CLAUDE_CODE_LIKE, "anthropic", "openai-responses", "gpt-5")
    output = next(i for i in resp["input"] if i["type"] == "function_call_output")["output"]
    assert output[0] == {"type": "input_text", "text": "here is the page"}
    assert output[1]["type"] == "input_image" and output[1]["image_url"].endswith(PNG)
    assert not any(i["type"] == "reasoning" for i in resp["input"])  # foreign reasoning dropped
    gem = t.translate_request(CLAUDE_CODE_LIKE, "anthropic", "gemini", "gemini-2.5-pro")
    parts = gem["contents"][-1]["parts"]
    assert parts[0]["functionResponse"] == {
        "name": "Read",
        "response": {"output": "here is the page"},
    }
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    assert gem["systemInstruction"]["parts"][0]["text"] == "Top system.\n\nPlan mode is on."
    assert "model" not in gem


def test_anthropic_target_drops_foreign_thinking_and_thinks_no_more_when_it_must() -> None:
    chat = {
        "model": "x",
        "reasoning_effort": "medium",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "let me think",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": '{"c":1}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "Bash",
                    "parameters": {"type": "object", "properties": {"c": {"type": "integer"}}},
                },
            }
        ],
    }
    out = t.translate_request(chat, "openai-chat", "anthropic", "claude-x")
    assistant = out["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["tool_use"]  # unsigned reasoning cannot go back
    assert "thinking" not in out  # the tool turn has no signed thinking: thinking stays off
    chat["messages"] = chat["messages"][:1]
    fresh = t.translate_request(chat, "openai-chat", "anthropic", "claude-x")
    assert fresh["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert fresh["max_tokens"] > 8192


@pytest.mark.parametrize("dst", ["openai-chat", "openai-responses", "gemini"])
def test_server_tools_are_refused_for_other_apis(dst: str) -> None:
    body = {
        "model": "c",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "q"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "tool", "name": "web_search"},
    }
    with pytest.raises(t.TranslationError, match="web_search_20250305"):
        t.translate_request(body, "anthropic", dst, "m")


def test_responses_server_tool_forced_is_refused_for_anthropic() -> None:
    body = {
        "model": "c",
        "input": "q",
        "tools": [{"type": "web_search"}],
        "tool_choice": {"type": "web_search"},
    }
    with pytest.raises(t.TranslationError, match="web_search"):
        t.translate_request(body, "openai-responses", "anthropic", "m")


def test_tool_choice_and_response_format() -> None:
    chat = {
        "model": "x",
        "messages": [{"role": "user", "content": "q"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "title",
                "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            },
        },
    }
    a = t.translate_request(chat, "openai-chat", "anthropic", "c")
    assert a["tool_choice"] == {"type": "tool", "name": "f", "disable_parallel_tool_use": True}
    assert a["output_config"]["format"]["schema"]["properties"]["title"] == {"type": "string"}
    g = t.translate_request(chat, "openai-chat", "gemini", "g")
    assert g["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }
    assert g["generationConfig"]["responseMimeType"] == "application/json"
    r = t.translate_request(chat, "openai-chat", "openai-responses", "r")
    assert r["tool_choice"] == {"type": "function", "name": "f"}
    assert r["text"]["format"]["name"] == "title"
    back = t.translate_request(a, "anthropic", "openai-chat", "x")
    assert back["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert back["parallel_tool_calls"] is False


def test_chat_token_limit_field_depends_on_the_model() -> None:
    body = {"model": "c", "max_tokens": 100, "messages": [{"role": "user", "content": "q"}]}
    assert (
        t.translate_request(body, "anthropic", "openai-chat", "gpt-5-mini")["max_completion_tokens"]
        == 100
    )
    assert (
        t.translate_request(body, "anthropic", "openai-chat", "deepseek-chat")["max_tokens"] == 100
    )


# ------------------------------------------------------------------ names and custom tools


def test_long_and_odd_tool_names_map_and_restore() -> None:
    long_name = "mcp__" + "x" * 100
    short = TOOL_NAMES.to_provider(long_name, "openai-chat")
    assert len(short) <= 64 and short == TOOL_NAMES.to_provider(long_name, "openai-chat")
    assert TOOL_NAMES.from_provider(short) == long_name
    odd = "my tool/v2"
    g = TOOL_NAMES.to_provider(odd, "gemini")
    assert g != odd and TOOL_NAMES.from_provider(g) == odd
    assert TOOL_NAMES.to_provider("Bash", "gemini") == "Bash"
    assert TOOL_NAMES.to_provider("a" * 100, "anthropic") == "a" * 100
    resp = whole_body("openai-chat", Reply(tool_calls=[Call(short, {"a": 1})]))
    out = t.translate_response(resp, "openai-chat", "anthropic", "claude")
    assert out["content"][0]["name"] == long_name


def test_responses_custom_tool_round_trip_through_anthropic() -> None:
    body = {
        "model": "gpt-5-codex",
        "input": [{"role": "user", "content": "patch it"}],
        "tools": [
            {
                "type": "custom",
                "name": "apply_patch",
                "description": "Apply a patch",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
            }
        ],
    }
    a = t.translate_request(body, "openai-responses", "anthropic", "claude-x")
    schema = a["tools"][0]["input_schema"]
    assert (
        schema["required"] == ["input"] and "lark" in schema["properties"]["input"]["description"]
    )
    patch = "*** Begin Patch\n*** Update File: a.py\n+x = 1\n*** End Patch"
    answer = whole_body("anthropic", Reply(tool_calls=[Call("apply_patch", {"input": patch})]))
    out = t.translate_response(answer, "anthropic", "openai-responses", "gpt-5-codex")
    item = out["output"][0]
    assert item["type"] == "custom_tool_call" and item["input"] == patch
    nxt = {
        **body,
        "input": [
            *body["input"],
            item,
            {"type": "custom_tool_call_output", "call_id": item["call_id"], "output": "Done!"},
        ],
    }
    a2 = t.translate_request(nxt, "openai-responses", "anthropic", "claude-x")
    use = a2["messages"][1]["content"][0]
    assert use["input"] == {"input": patch} and use["id"] == item["call_id"]
    assert a2["messages"][2]["content"][0]["tool_use_id"] == item["call_id"]


# ------------------------------------------------------------------ whole responses


@pytest.mark.parametrize(
    ("src", "stop", "want"),
    [
        ("openai-chat", "length", "max_tokens"),
        ("openai-chat", "content_filter", "refusal"),
        ("gemini", "MAX_TOKENS", "max_tokens"),
        ("gemini", "SAFETY", "refusal"),
        ("openai-responses", "max_output_tokens", "max_tokens"),
    ],
)
def test_stop_reasons_from_providers(src: str, stop: str, want: str) -> None:
    out = t.translate_response(whole_body(src, Reply(text="x", stop=stop)), src, "anthropic", "c")
    assert out["stop_reason"] == want


@pytest.mark.parametrize(
    ("stop", "chat", "gemini", "status"),
    [
        ("end_turn", "stop", "STOP", "completed"),
        ("tool_use", "tool_calls", "STOP", "completed"),
        ("max_tokens", "length", "MAX_TOKENS", "incomplete"),
        ("refusal", "content_filter", "SAFETY", "completed"),
        ("pause_turn", "stop", "STOP", "completed"),
        ("stop_sequence", "stop", "STOP", "completed"),
    ],
)
def test_stop_reasons_to_agents(stop: str, chat: str, gemini: str, status: str) -> None:
    body = whole_body("anthropic", Reply(text="x", stop=stop))
    assert (
        t.translate_response(body, "anthropic", "openai-chat", "m")["choices"][0]["finish_reason"]
        == chat
    )
    assert (
        t.translate_response(body, "anthropic", "gemini", "m")["candidates"][0]["finishReason"]
        == gemini
    )
    assert t.translate_response(body, "anthropic", "openai-responses", "m")["status"] == status


def test_usage_semantics_never_double_count() -> None:
    usage = {"input": 10, "output": 3, "cache_read": 1000, "cache_write": 200}
    a = whole_body("anthropic", Reply(text="x", usage=usage))
    chat = t.translate_response(a, "anthropic", "openai-chat", "m")["usage"]
    assert chat["prompt_tokens"] == 1210 and chat["prompt_tokens_details"]["cached_tokens"] == 1000
    back = t.translate_response(
        whole_body("openai-chat", Reply(text="x", usage=usage)), "openai-chat", "anthropic", "m"
    )["usage"]
    # OpenAI has no cache-write count: those tokens stay in input, nothing is counted twice.
    assert back == {
        "input_tokens": 210,
        "output_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1000,
    }
    deepseek = {
        "id": "x",
        "model": "deepseek-chat",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "prompt_cache_hit_tokens": 60,
            "prompt_cache_miss_tokens": 40,
        },
    }
    u = t.translate_response(deepseek, "openai-chat", "anthropic", "c")["usage"]
    assert (u["input_tokens"], u["cache_read_input_tokens"]) == (40, 60)
    gem = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": 500,
            "cachedContentTokenCount": 300,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 80,
        },
    }
    g = t.translate_response(gem, "gemini", "anthropic", "c")["usage"]
    assert (g["input_tokens"], g["cache_read_input_tokens"], g["output_tokens"]) == (200, 300, 100)


def test_chat_tool_calls_with_stop_finish_are_tool_use() -> None:
    body = whole_body("openai-chat", Reply(tool_calls=[Call("f", {})], stop="stop"))
    assert t.translate_response(body, "openai-chat", "anthropic", "c")["stop_reason"] == "tool_use"


def test_gemini_agent_history_without_ids_gets_stable_ids() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "ls", "args": {}}},
                    {"functionCall": {"name": "cat", "args": {"f": "a"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "ls", "response": {"output": "a"}}},
                    {"functionResponse": {"name": "cat", "response": {"error": "nope"}}},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "ls", "description": "list"},
                    {
                        "name": "cat",
                        "parameters": {"type": "OBJECT", "properties": {"f": {"type": "STRING"}}},
                    },
                ]
            }
        ],
    }
    one = t.translate_request(body, "gemini", "anthropic", "c", stream=True)
    two = t.translate_request(body, "gemini", "anthropic", "c", stream=True)
    assert one == two and one["stream"] is True
    uses = one["messages"][1]["content"]
    results = one["messages"][2]["content"]
    assert [u["id"] for u in uses] == [r["tool_use_id"] for r in results]
    assert results[1]["is_error"] is True
    assert one["tools"][1]["input_schema"]["properties"]["f"] == {"type": "string"}


# ------------------------------------------------------------------ Gemini schemas


def test_gemini_schema_sanitising() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "$defs": {
            "Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
        },
        "properties": {
            "where": {"$ref": "#/$defs/Point"},
            "kind": {"const": "fast"},
            "mode": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "count": {"type": "integer", "exclusiveMinimum": 0, "enum": [1, 2]},
            "url": {"type": "string", "format": "uri"},
            "when": {"type": "string", "format": "date-time"},
            "both": {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "string"}}},
                ]
            },
            "list": {"type": "array", "items": {"type": ["string", "null"]}},
        },
        "required": ["where", "ghost"],
    }
    out = sanitize_for_gemini(schema)
    text = json.dumps(out)
    for banned in (
        "$schema",
        "additionalProperties",
        "$ref",
        "$defs",
        "const",
        "oneOf",
        "allOf",
        "exclusiveMinimum",
        '"uri"',
    ):
        assert banned not in text
    p = out["properties"]
    assert p["where"] == {
        "type": "object",
        "properties": {"x": {"type": "number"}},
        "required": ["x"],
    }
    assert p["kind"] == {"enum": ["fast"], "type": "string"}
    assert p["mode"]["anyOf"] == [{"type": "string"}, {"type": "integer"}]
    assert p["maybe"] == {"nullable": True, "type": "string"}
    assert p["count"] == {"type": "integer"}
    assert p["when"]["format"] == "date-time"
    assert set(p["both"]["properties"]) == {"a", "b"} and p["both"]["required"] == ["a"]
    assert p["list"]["items"] == {"nullable": True, "type": "string"}
    assert out["required"] == ["where"]
    assert "$schema" in schema  # the input is not changed


# ------------------------------------------------------------------ errors


def test_error_translation_keeps_the_provider_message() -> None:
    body = json.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ).encode()
    status, out = t.translate_error(529, body, "application/json", "anthropic", "openai-chat")
    assert status == 529 and json.loads(out)["error"]["message"] == "Overloaded"
    gem = json.dumps(
        [{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}]
    ).encode()
    status, out = t.translate_error(429, gem, "application/json", "gemini", "anthropic")
    doc = json.loads(out)
    assert doc["error"] == {"type": "rate_limit_error", "message": "Quota exceeded"}
    status, out = t.translate_error(
        400,
        b'{"error":{"message":"bad","type":"invalid_request_error"}}',
        None,
        "openai-chat",
        "gemini",
    )
    assert json.loads(out)["error"] == {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}


def test_html_error_pages_are_not_parsed_as_json() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title>"
        b'</head><body>{"error": "not this"}</body></html>'
    )
    status, out = t.translate_error(
        503, page, "text/html; charset=utf-8", "openai-chat", "anthropic"
    )
    msg = json.loads(out)["error"]["message"]
    assert status == 503 and "503 Service Temporarily Unavailable" in msg
    assert "not this" not in msg and "<" not in msg
    # Mislabelled as JSON, still HTML.
    _, out = t.translate_error(
        502,
        b"<html><body>Bad gateway</body></html>",
        "application/json",
        "gemini",
        "openai-responses",
    )
    assert "Bad gateway" in json.loads(out)["error"]["message"]
    _, out = t.translate_error(500, b"", None, "gemini", "anthropic")
    assert "empty body" in json.loads(out)["error"]["message"]


@pytest.mark.parametrize("api", ["anthropic", "openai-chat", "openai-responses", "gemini"])
def test_error_bodies_the_proxy_makes(api: str) -> None:
    doc = json.loads(t.error_body(api, 413, "request too large: 40 MB"))
    assert "request too large: 40 MB" in json.dumps(doc)
    if api == "anthropic":
        assert doc == {
            "type": "error",
            "error": {"type": "request_too_large", "message": "request too large: 40 MB"},
        }
    elif api == "gemini":
        assert doc["error"]["code"] == 413


# ------------------------------------------------------------------ token estimate


def test_count_tokens_estimate_tracks_content() -> None:
    small = {"model": "c", "messages": [{"role": "user", "content": "hi"}]}
    prose = "The quick brown fox jumps over the lazy dog. " * 80  # 3600 characters
    big = {"model": "c", "messages": [{"role": "user", "content": prose}]}
    with_image = {
        "model": "c",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prose},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                ],
            }
        ],
    }
    a, b, c = (t.count_tokens_estimate(x, "anthropic") for x in (small, big, with_image))
    assert 1 <= a < 20
    assert 700 < b < 1400  # about 800 real tokens
    assert c > b + 1000
    chat = {"model": "c", "messages": [{"role": "user", "content": prose}]}
    assert t.count_tokens_estimate(chat, "openai-chat") == b


def test_usage_object_is_the_pricing_usage() -> None:
    tr = t.StreamTranslator("openai-chat", "anthropic", "m")
    assert isinstance(tr.usage, Usage)


# ------------------------------------------------------------------ same-API reasoning scrub


def test_reasoning_from_another_api_is_scrubbed_before_going_home() -> None:
    # Turn 1 was served by a Chat model with reasoning; turn 2 goes to Anthropic untranslated.
    answer = whole_body("openai-chat", Reply(reasoning="hmm", tool_calls=[Call("Bash", {})]))
    shown = t.translate_response(answer, "openai-chat", "anthropic", "claude")
    assert shown["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": ""}
    body = {
        "model": "claude",
        "max_tokens": 100,
        "thinking": {"type": "enabled", "budget_tokens": 50},
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": shown["content"]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": shown["content"][1]["id"],
                        "content": "ok",
                    }
                ],
            },
        ],
    }
    raw = json.dumps(body).encode()
    assert t.needs_scrub(raw, "anthropic")
    clean = t.scrub_foreign_reasoning(body, "anthropic")
    assert [b["type"] for b in clean["messages"][1]["content"]] == ["tool_use"]
    assert "thinking" not in clean
    assert body["messages"][1]["content"][0]["type"] == "thinking"  # the input is not changed
    native = {
        **body,
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "x", "signature": "EqQBCgIYAhIM"}],
            }
        ],
    }
    assert not t.needs_scrub(json.dumps(native).encode(), "anthropic")


def test_sealed_reasoning_is_scrubbed_for_responses_and_gemini() -> None:
    answer = whole_body(
        "anthropic", Reply(reasoning="plan", signature="ANTHROPIC-SIG", tool_calls=[Call("f", {})])
    )
    shown = t.translate_response(answer, "anthropic", "openai-responses", "gpt")
    item = shown["output"][0]
    assert item["type"] == "reasoning" and item["encrypted_content"].startswith("awsig1.")
    body = {"model": "gpt", "input": [{"role": "user", "content": "q"}, *shown["output"]]}
    assert t.needs_scrub(json.dumps(body).encode(), "openai-responses")
    clean = t.scrub_foreign_reasoning(body, "openai-responses")
    assert [i.get("type", "message") for i in clean["input"]] == ["message", "function_call"]
    # The same history translated back to Anthropic restores the original signature.
    back = t.translate_request(body, "openai-responses", "anthropic", "claude")
    assert back["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "plan",
        "signature": "ANTHROPIC-SIG",
    }
    gem = t.translate_response(answer, "anthropic", "gemini", "g")
    parts = gem["candidates"][0]["content"]["parts"]
    gbody = {
        "contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": parts}]
    }
    assert t.needs_scrub(json.dumps(gbody).encode(), "gemini")
    gclean = t.scrub_foreign_reasoning(gbody, "gemini")
    model_parts = gclean["contents"][1]["parts"]
    assert all(not p.get("thought") for p in model_parts)
    assert model_parts[0]["thoughtSignature"] == "skip_thought_signature_validator"


def test_max_tokens_are_capped_for_models_that_accept_less() -> None:
    body = {"model": "c", "max_tokens": 64000, "messages": [{"role": "user", "content": "q"}]}
    assert (
        t.translate_request(body, "anthropic", "openai-chat", "deepseek-chat")["max_tokens"] == 8192
    )
    assert (
        t.translate_request(body, "anthropic", "openai-chat", "openrouter/gpt-4o-mini")[
            "max_tokens"
        ]
        == 16384
    )
    assert t.translate_request(body, "anthropic", "openai-chat", "glm-4.6")["max_tokens"] == 64000
    capped = t.translate_request(body, "anthropic", "gemini", "g", max_output_tokens=1000)
    assert capped["generationConfig"]["maxOutputTokens"] == 1000


def test_stored_responses_state_cannot_cross_apis() -> None:
    body = {"model": "gpt", "input": "and then?", "previous_response_id": "resp_123"}
    with pytest.raises(t.TranslationError, match="previous_response_id"):
        t.translate_request(body, "openai-responses", "anthropic", "claude")


def test_cache_breakpoints_are_added_for_anthropic_targets_only_when_none_exist() -> None:
    chat = {
        "model": "x",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "a", "parameters": {}}},
            {"type": "function", "function": {"name": "b", "parameters": {}}},
        ],
    }
    out = t.translate_request(chat, "openai-chat", "anthropic", "claude")
    marked = [b for b in [*out["system"], *out["tools"]] if "cache_control" in b]
    marked += [b for m in out["messages"] for b in m["content"] if "cache_control" in b]
    assert [b.get("name") or b.get("text") for b in marked] == ["sys", "b", "one", "three"]
    from agentwrap.wire import anthropic

    own = {
        "model": "c",
        "max_tokens": 10,
        "system": [
            {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
        "messages": [{"role": "user", "content": "q"}],
    }
    again = anthropic.emit_request(anthropic.parse_request(own), "c")
    assert json.dumps(again).count("cache_control") == 1  # the agent's own marks are kept as is
    assert again["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_unsigned_foreign_reasoning_shown_to_responses_agents_is_scrubbable() -> None:
    answer = whole_body("openai-chat", Reply(reasoning="thinking aloud", text="hi"))
    shown = t.translate_response(answer, "openai-chat", "openai-responses", "gpt")
    item = shown["output"][0]
    assert item["type"] == "reasoning" and item["summary"][0]["text"] == "thinking aloud"
    body = {"model": "gpt", "store": False, "input": [{"role": "user", "content": "q"}, item]}
    assert t.needs_scrub(json.dumps(body).encode(), "openai-responses")
    assert len(t.scrub_foreign_reasoning(body, "openai-responses")["input"]) == 1
