"""Codex's tools across APIs: namespaces, the lite request's tool item, tool search, hosted tools.

The request shapes follow what Codex 0.169 sends (see tests/support/codex_env.py); the real
CLI runs through the same paths in tests/e2e/test_codex.py. Responses output items the
translation produces are judged by the official `openai` SDK's own item types.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseOutputItem
from pydantic import TypeAdapter

from agentwrap.fakes.provider import Call, FakeProvider, Reply, stream_bytes, whole_body
from agentwrap.wire import translate as t
from agentwrap.wire.names import ToolNames
from agentwrap.wire.sse import SSEDecoder
from tests.wire.bridge import Bridge

OUTPUT_ITEM: TypeAdapter[Any] = TypeAdapter(ResponseOutputItem)
TARGETS = ["anthropic", "openai-chat", "gemini"]

GRAMMAR = {"type": "grammar", "syntax": "lark", "definition": "start: SOURCE\nSOURCE: /[\\s\\S]+/"}
SLEEP_PARAMS = {
    "type": "object",
    "properties": {"duration_ms": {"type": "number"}},
    "required": ["duration_ms"],
    "additionalProperties": False,
}
SEARCH_PARAMS = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "limit": {"type": "number"}},
    "required": ["query"],
}


def lite_body(*history: dict[str, Any]) -> dict[str, Any]:
    """A "responses lite" request: no `tools` key, the tools in an additional_tools item."""
    tools = [
        {
            "type": "namespace",
            "name": "functions",
            "description": "",
            "tools": [
                {
                    "type": "custom",
                    "name": "exec",
                    "description": "Run JavaScript.",
                    "format": GRAMMAR,
                },
                {
                    "type": "function",
                    "name": "wait",
                    "description": "Wait for a cell.",
                    "strict": False,
                    "parameters": {"type": "object", "properties": {"cell_id": {"type": "string"}}},
                },
            ],
        },
        {
            "type": "namespace",
            "name": "clock",
            "description": "Tools for reading and waiting on time.",
            "tools": [
                {
                    "type": "function",
                    "name": "sleep",
                    "description": "Sleep a while.",
                    "strict": False,
                    "parameters": SLEEP_PARAMS,
                }
            ],
        },
    ]
    return {
        "model": "gpt-6.1-sol",
        "stream": True,
        "store": False,
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "input": [
            {"type": "additional_tools", "id": "at_1", "role": "developer", "tools": tools},
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "You are Codex."}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            *history,
        ],
    }


def classic_body(*history: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A request with a `tools` list: functions, a custom tool, tool search and web search."""
    return {
        "model": "gpt-5.5",
        "stream": True,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
            *history,
        ],
        "tools": [
            {
                "type": "function",
                "name": "exec_command",
                "strict": False,
                "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
            },
            {"type": "custom", "name": "apply_patch", "description": "Patch.", "format": GRAMMAR},
            {
                "type": "tool_search",
                "execution": "client",
                "description": "Search deferred tools.",
                "parameters": SEARCH_PARAMS,
            },
            {"type": "web_search", "external_web_access": False},
        ],
        **extra,
    }


def tool_names(body: dict[str, Any], dst: str) -> list[str]:
    if dst == "anthropic":
        return [tool["name"] for tool in body["tools"]]
    if dst == "openai-chat":
        return [tool["function"]["name"] for tool in body["tools"]]
    return [d["name"] for group in body["tools"] for d in group.get("functionDeclarations", [])]


def output_items(sse: bytes) -> list[Any]:
    """The finished output items of a Responses stream, as the openai SDK types them."""
    decoder = SSEDecoder()
    items = []
    for _, data in [*decoder.feed(sse), *decoder.close()]:
        event = json.loads(data)
        if event["type"] == "response.output_item.done":
            items.append(OUTPUT_ITEM.validate_python(event["item"]))
    return items


# ------------------------------------------------------------------ declarations


@pytest.mark.parametrize("dst", TARGETS)
def test_the_lite_requests_tool_item_declares_its_tools(dst: str) -> None:
    out = t.translate_request(lite_body(), "openai-responses", dst, "m", names=ToolNames())
    # The default namespace's tools keep their names; another namespace's are prefixed.
    assert tool_names(out, dst) == ["exec", "wait", "clock__sleep"]
    # The tool item is a declaration, not a turn of the conversation.
    assert "additional_tools" not in json.dumps(out)


def test_namespaced_and_custom_tools_as_anthropic_tools() -> None:
    out = t.translate_request(lite_body(), "openai-responses", "anthropic", "m", names=ToolNames())
    tools = {tool["name"]: tool for tool in out["tools"]}
    assert tools["clock__sleep"]["input_schema"] == SLEEP_PARAMS
    # The namespace's description travels with its tools.
    assert tools["clock__sleep"]["description"] == (
        "Tools for reading and waiting on time.\n\nSleep a while."
    )
    assert tools["wait"]["description"] == "Wait for a cell."
    # A free-form tool takes its raw text as `input`, its grammar spelled out.
    schema = tools["exec"]["input_schema"]
    assert schema["required"] == ["input"]
    assert "start: SOURCE" in schema["properties"]["input"]["description"]
    assert out["system"][0]["text"] == "You are Codex."


def test_a_tool_declared_twice_is_sent_once() -> None:
    body = lite_body()
    body["tools"] = [{"type": "function", "name": "wait", "parameters": {"type": "object"}}]
    out = t.translate_request(body, "openai-responses", "anthropic", "m", names=ToolNames())
    assert [tool["name"] for tool in out["tools"]].count("wait") == 1


@pytest.mark.parametrize("dst", TARGETS)
def test_client_tool_search_is_a_function_and_web_search_is_left_out_visibly(dst: str) -> None:
    notes: list[str] = []
    out = t.translate_request(
        classic_body(), "openai-responses", dst, "m", names=ToolNames(), notes=notes
    )
    assert tool_names(out, dst) == ["exec_command", "apply_patch", "tool_search"]
    assert "web_search" not in json.dumps(out)
    (note,) = notes
    assert "web_search" in note and "OpenAI" in note


def test_notes_are_optional() -> None:
    out = t.translate_request(classic_body(), "openai-responses", "anthropic", "m")
    assert "web_search" not in json.dumps(out["tools"])


@pytest.mark.parametrize("dst", TARGETS)
def test_a_request_that_forces_a_hosted_tool_is_refused(dst: str) -> None:
    body = classic_body(tool_choice={"type": "web_search"})
    with pytest.raises(t.TranslationError, match="web_search"):
        t.translate_request(body, "openai-responses", dst, "m", names=ToolNames())


@pytest.mark.parametrize("kind", ["local_shell", "computer_use_preview", "some_future_tool"])
def test_a_tool_with_call_items_of_its_own_is_still_refused(kind: str) -> None:
    # The agent runs these, but through items no other API's answer could be turned into.
    body = classic_body()
    body["tools"].append({"type": kind})
    with pytest.raises(t.TranslationError, match=kind):
        t.translate_request(body, "openai-responses", "anthropic", "m", names=ToolNames())


@pytest.mark.parametrize(
    "kind", ["web_search_preview_2025_03_11", "file_search", "code_interpreter", "mcp"]
)
def test_every_hosted_tool_is_left_out_with_a_note(kind: str) -> None:
    body = {"model": "gpt-5.5", "input": "q", "tools": [{"type": kind}]}
    notes: list[str] = []
    out = t.translate_request(
        body, "openai-responses", "anthropic", "m", names=ToolNames(), notes=notes
    )
    assert "tools" not in out
    assert len(notes) == 1 and kind in notes[0]


def test_a_server_side_tool_search_leaves_its_deferred_tools_as_plain_tools() -> None:
    body = {
        "model": "gpt-5.5",
        "input": "find the weather",
        "tools": [
            {"type": "tool_search"},
            {
                "type": "function",
                "name": "weather",
                "defer_loading": True,
                "parameters": {"type": "object", "properties": {}},
            },
        ],
    }
    notes: list[str] = []
    out = t.translate_request(
        body, "openai-responses", "anthropic", "m", names=ToolNames(), notes=notes
    )
    assert [tool["name"] for tool in out["tools"]] == ["weather"]
    assert notes and "tool_search" in notes[0]


def test_forcing_a_namespaced_function_names_it_flat() -> None:
    body = lite_body()
    body["tool_choice"] = {"type": "function", "namespace": "clock", "name": "sleep"}
    out = t.translate_request(body, "openai-responses", "anthropic", "m", names=ToolNames())
    assert out["tool_choice"]["name"] == "clock__sleep"


# ------------------------------------------------------------------ history


def test_namespaced_and_custom_calls_in_history_keep_their_ids() -> None:
    history = (
        {
            "type": "custom_tool_call",
            "id": "ctc_1",
            "call_id": "toolu_js",
            "namespace": "functions",
            "name": "exec",
            "input": 'text("hi")',
        },
        {
            "type": "custom_tool_call_output",
            "call_id": "toolu_js",
            "output": [{"type": "input_text", "text": "Script completed"}],
        },
        {
            "type": "function_call",
            "id": "fc_2",
            "call_id": "toolu_sleep",
            "namespace": "clock",
            "name": "sleep",
            "arguments": '{"duration_ms": 5}',
        },
        {"type": "function_call_output", "call_id": "toolu_sleep", "output": "Sleep completed."},
    )
    out = t.translate_request(
        lite_body(*history), "openai-responses", "anthropic", "m", names=ToolNames()
    )
    blocks = [b for m in out["messages"] for b in m["content"] if isinstance(b, dict)]
    uses = [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
    assert uses == [
        ("toolu_js", "exec", {"input": 'text("hi")'}),
        ("toolu_sleep", "clock__sleep", {"duration_ms": 5}),
    ]
    results = {b["tool_use_id"]: json.dumps(b) for b in blocks if b["type"] == "tool_result"}
    assert "Script completed" in results["toolu_js"]
    assert "Sleep completed." in results["toolu_sleep"]


def test_tool_search_call_and_output_become_a_call_a_result_and_new_tools() -> None:
    history = (
        {
            "type": "tool_search_call",
            "id": "tsc_1",
            "call_id": "toolu_ts",
            "status": "completed",
            "execution": "client",
            "arguments": {"query": "calendar", "limit": 2},
        },
        {
            "type": "tool_search_output",
            "call_id": "toolu_ts",
            "status": "completed",
            "execution": "client",
            "tools": [
                {
                    "type": "namespace",
                    "name": "mcp__calendar",
                    "description": "Calendar tools.",
                    "tools": [
                        {
                            "type": "function",
                            "name": "create_event",
                            "defer_loading": True,
                            "parameters": {"type": "object", "properties": {}},
                        }
                    ],
                }
            ],
        },
    )
    out = t.translate_request(
        classic_body(*history), "openai-responses", "anthropic", "m", names=ToolNames()
    )
    names = [tool["name"] for tool in out["tools"]]
    assert names == ["exec_command", "apply_patch", "tool_search", "mcp__calendar__create_event"]
    blocks = [b for m in out["messages"] for b in m["content"] if isinstance(b, dict)]
    (use,) = [b for b in blocks if b["type"] == "tool_use"]
    assert (use["id"], use["name"], use["input"]) == (
        "toolu_ts",
        "tool_search",
        {"query": "calendar", "limit": 2},
    )
    (result,) = [b for b in blocks if b["type"] == "tool_result"]
    assert result["tool_use_id"] == "toolu_ts"
    assert "mcp__calendar__create_event" in json.dumps(result["content"])


def test_an_empty_tool_search_says_nothing_matched() -> None:
    history = (
        {"type": "tool_search_call", "call_id": "ts1", "execution": "client", "arguments": {}},
        {"type": "tool_search_output", "call_id": "ts1", "execution": "client", "tools": []},
    )
    out = t.translate_request(
        classic_body(*history), "openai-responses", "openai-chat", "m", names=ToolNames()
    )
    (tool_msg,) = [m for m in out["messages"] if m["role"] == "tool"]
    assert tool_msg["tool_call_id"] == "ts1" and "No tools matched" in json.dumps(tool_msg)


# ------------------------------------------------------------------ answers


CALLS = [
    Call("exec", {"input": 'text("hi")'}, id="toolu_js"),
    Call("clock__sleep", {"duration_ms": 5}, id="toolu_sleep"),
    Call("tool_search", {"query": "calendar", "limit": 2}, id="toolu_ts"),
    Call("exec_command", {"cmd": "ls"}, id="toolu_ls"),
]


def check_items(items: list[Any]) -> None:
    """The four calls of CALLS as the output items Codex executes."""
    by_id = {item.call_id: item for item in items if item.type != "message"}
    js, sleep, search, ls = (by_id[c.id] for c in CALLS)
    assert (js.type, js.name, js.input) == ("custom_tool_call", "exec", 'text("hi")')
    assert js.namespace is None
    assert (sleep.type, sleep.namespace, sleep.name) == ("function_call", "clock", "sleep")
    assert json.loads(sleep.arguments) == {"duration_ms": 5}
    assert (search.type, search.execution) == ("tool_search_call", "client")
    assert search.arguments == {"query": "calendar", "limit": 2}
    assert (ls.type, ls.name, ls.namespace) == ("function_call", "exec_command", None)
    assert json.loads(ls.arguments) == {"cmd": "ls"}


@pytest.mark.parametrize("src", TARGETS)
def test_streamed_calls_go_back_as_the_items_codex_runs(src: str) -> None:
    names = ToolNames()
    t.translate_request(classic_body(), "openai-responses", src, "m", names=names)
    t.translate_request(lite_body(), "openai-responses", src, "m", names=names)
    reply = Reply(text="Working.", tool_calls=CALLS)
    tr = t.StreamTranslator(src, "openai-responses", "gpt-5.5", names=names)
    sse = tr.feed(stream_bytes(src, reply)) + tr.close()
    items = output_items(sse)
    check_items(items)
    # In the model's order, under the ids it gave: Codex answers each call by its id.
    assert [item.call_id for item in items if item.type != "message"] == [c.id for c in CALLS]


def test_a_whole_answer_goes_back_as_the_items_codex_runs() -> None:
    names = ToolNames()
    t.translate_request(classic_body(), "openai-responses", "anthropic", "m", names=names)
    t.translate_request(lite_body(), "openai-responses", "anthropic", "m", names=names)
    body = whole_body("anthropic", Reply(tool_calls=CALLS))
    out = t.translate_response(body, "anthropic", "openai-responses", "gpt-5.5", names=names)
    check_items([OUTPUT_ITEM.validate_python(item) for item in out["output"]])


def test_the_next_turn_replays_an_answer_unchanged() -> None:
    # Codex sends the items it got back in the next request: the provider sees its own calls.
    names = ToolNames()
    t.translate_request(lite_body(), "openai-responses", "anthropic", "m", names=names)
    t.translate_request(classic_body(), "openai-responses", "anthropic", "m", names=names)
    body = whole_body("anthropic", Reply(tool_calls=CALLS))
    answer = t.translate_response(body, "anthropic", "openai-responses", "gpt-5.5", names=names)
    replay = t.translate_request(
        classic_body(*answer["output"]), "openai-responses", "anthropic", "m", names=names
    )
    (turn,) = [m for m in replay["messages"] if m["role"] == "assistant"]
    assert [(b["id"], b["name"], b["input"]) for b in turn["content"]] == [
        (c.id, c.name, c.arguments) for c in CALLS
    ]


# ------------------------------------------------------------------ through the proxy


@pytest.mark.parametrize("upstream", TARGETS)
async def test_codex_shaped_turns_through_the_proxy_judged_by_the_openai_sdk(
    upstream: str,
) -> None:
    script = [Reply(text="Working.", tool_calls=CALLS), Reply(text="All done.")]
    async with FakeProvider(upstream, script) as fake, Bridge("openai-responses", fake) as bridge:
        client = openai.AsyncOpenAI(base_url=bridge.root + "/v1", api_key="sk-test", max_retries=0)
        first = classic_body()
        first["input"] = lite_body()["input"]  # both ways of declaring tools, in one request
        del first["stream"]
        async with client.responses.stream(**first) as stream:
            final = await stream.get_final_response()
        check_items(final.output)
        replay = [item.model_dump(exclude_none=True) for item in final.output]
        outputs = [
            {"type": "custom_tool_call_output", "call_id": "toolu_js", "output": "JS-RESULT"},
            {"type": "function_call_output", "call_id": "toolu_sleep", "output": "SLEPT"},
            {
                "type": "tool_search_output",
                "call_id": "toolu_ts",
                "execution": "client",
                "tools": [],
            },
            {"type": "function_call_output", "call_id": "toolu_ls", "output": "LS-RESULT"},
        ]
        second = {**first, "input": [*first["input"], *replay, *outputs]}
        async with client.responses.stream(**second) as stream:
            final2 = await stream.get_final_response()
        calls = bridge.calls()
    assert final2.output_text == "All done."
    sent = json.dumps(fake.requests[1].body)
    for marker in ("JS-RESULT", "SLEPT", "No tools matched", "LS-RESULT"):
        assert marker in sent
    assert "web_search" not in json.dumps(fake.requests[0].body)
    assert [c["status"] for c in calls] == ["ok", "ok"]


@pytest.mark.parametrize(
    "item",
    [
        {"type": "additional_tools", "tools": None},
        {"type": "additional_tools", "tools": {"not": "a list"}},
        {"type": "additional_tools", "tools": [{"type": "namespace", "name": "ns", "tools": 7}]},
        {"type": "additional_tools", "tools": [{"type": "namespace", "tools": [None, "x"]}]},
        {"type": "tool_search_call", "call_id": "c", "arguments": "not json"},
        {"type": "tool_search_output", "call_id": "c", "tools": None},
        {"type": "function_call", "call_id": "c", "namespace": 5, "name": "f", "arguments": "{"},
    ],
)
def test_odd_shapes_translate_or_fail_clearly(item: dict[str, Any]) -> None:
    body = classic_body(item)
    try:
        out = t.translate_request(body, "openai-responses", "anthropic", "m", names=ToolNames())
    except t.TranslationError:
        return
    assert out["messages"] and "exec_command" in [tool["name"] for tool in out["tools"]]
