"""Stream translation over real SSE bytes, split at arbitrary byte boundaries."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentwrap.fakes.provider import Call, Reply, stream_bytes
from agentwrap.wire.names import TOOL_NAMES
from agentwrap.wire.translate import StreamTranslator
from tests.wire.assemble import assemble

APIS = ["anthropic", "openai-chat", "openai-responses", "gemini"]
PAIRS = [(s, d) for s, d in itertools.product(APIS, APIS) if s != d]

REPLIES = {
    "text": Reply(
        text="Plain answer with ünïcödé — and emoji 🚀 split across bytes.",
        usage={"input": 31, "output": 17, "cache_read": 5},
    ),
    "tools": Reply(
        text="Running two things.",
        reasoning="First list, then read the file.",
        signature="SIG-1",
        tool_calls=[
            Call("Bash", {"command": "ls -la", "n": [1, 2]}),
            Call("Read", {"path": 'a "quoted" name.py'}),
        ],
        usage={"input": 1000, "output": 80, "cache_read": 900},
    ),
}


def translate_in_pieces(
    src: str, dst: str, data: bytes, cuts: list[int]
) -> tuple[bytes, StreamTranslator]:
    tr = StreamTranslator(src, dst, "agent-model")
    out = bytearray()
    prev = 0
    for cut in sorted(set(cuts)):
        out += tr.feed(data[prev:cut])
        prev = cut
    out += tr.feed(data[prev:])
    out += tr.close()
    return bytes(out), tr


def check(src: str, dst: str, name: str, result: bytes, tr: StreamTranslator) -> None:
    reply = REPLIES[name]
    got = assemble(dst, result)
    assert got.error is None
    assert got.ended
    assert got.text == reply.text
    assert got.thinking == reply.reasoning
    assert [(n, a) for _, n, a in got.calls] == [(c.name, c.arguments) for c in reply.tool_calls]
    assert got.stop == ("tool_use" if reply.tool_calls else "end_turn")
    assert tr.stop_reason == got.stop
    u = reply.usage
    assert (got.usage.input_tokens, got.usage.output_tokens, got.usage.cache_read_tokens) == (
        u["input"],
        u["output"],
        u.get("cache_read", 0),
    )
    assert (tr.usage.input_tokens, tr.usage.cache_read_tokens) == (
        u["input"],
        u.get("cache_read", 0),
    )
    if src != "gemini":  # upstream ids survive so the next turn can answer them
        upstream = assemble(src, stream_bytes(src, reply))
        assert [i for i, _, _ in got.calls] == [i for i, _, _ in upstream.calls]


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@pytest.mark.parametrize("name", sorted(REPLIES))
def test_whole_stream(src: str, dst: str, name: str) -> None:
    data = stream_bytes(src, REPLIES[name])
    result, tr = translate_in_pieces(src, dst, data, [])
    check(src, dst, name, result, tr)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_stream_split_anywhere(src: str, dst: str, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(REPLIES)))
    raw = stream_bytes(src, REPLIES[name])
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=40))
    result, tr = translate_in_pieces(src, dst, raw, cuts)
    check(src, dst, name, result, tr)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_byte_by_byte(src: str, dst: str) -> None:
    raw = stream_bytes(src, REPLIES["tools"])
    result, tr = translate_in_pieces(src, dst, raw, list(range(len(raw))))
    check(src, dst, "tools", result, tr)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_stream_cut_short_ends_with_an_error(src: str, dst: str) -> None:
    reply = Reply(text="this answer will be cut off before its end", cut_after=4)
    result, tr = translate_in_pieces(src, dst, stream_bytes(src, reply), [7, 100])
    got = assemble(dst, result)
    assert got.error is not None and "ended before" in got.error
    assert not got.ended
    assert tr.stop_reason is None


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_upstream_error_event_is_passed_on(src: str, dst: str) -> None:
    reply = Reply(text="partial", stream_error="the provider is overloaded")
    result, _ = translate_in_pieces(src, dst, stream_bytes(src, reply), [])
    got = assemble(dst, result)
    assert got.error == "the provider is overloaded"
    assert got.text == "partial"


@pytest.mark.parametrize("dst", ["anthropic", "openai-chat", "openai-responses"])
def test_chat_stop_after_tool_calls_is_tool_use(dst: str) -> None:
    # Some OpenAI-compatible servers finish with "stop" after streaming tool calls.
    reply = Reply(tool_calls=[Call("Bash", {"command": "pwd"})], stop="stop")
    result, tr = translate_in_pieces("openai-chat", dst, stream_bytes("openai-chat", reply), [])
    assert assemble(dst, result).stop == "tool_use"
    assert tr.stop_reason == "tool_use"


def test_long_tool_names_are_restored_in_streams() -> None:
    long_name = "mcp__" + "very_long_server_name_" * 4 + "tool"
    short = TOOL_NAMES.to_provider(long_name, "openai-chat")
    assert short != long_name and len(short) <= 64
    reply = Reply(tool_calls=[Call(short, {"x": 1})])
    result, _ = translate_in_pieces(
        "openai-chat", "anthropic", stream_bytes("openai-chat", reply), []
    )
    assert assemble("anthropic", result).calls[0][1] == long_name


def test_json_body_answer_to_a_stream_request_is_still_translated() -> None:
    # A server that ignores stream=true and answers one JSON document.
    import json

    from agentwrap.fakes.provider import whole_body

    body = json.dumps(whole_body("openai-chat", REPLIES["tools"])).encode()
    result, tr = translate_in_pieces("openai-chat", "anthropic", body, [10])
    got = assemble("anthropic", result)
    assert got.text == REPLIES["tools"].text and len(got.calls) == 2
    assert tr.stop_reason == "tool_use" and tr.usage.input_tokens == 1000
