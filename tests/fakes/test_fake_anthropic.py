"""The fake Anthropic upstream, checked with the official `anthropic` SDK and raw HTTP."""

from __future__ import annotations

import gzip
import json
import threading
import time

import anthropic
import httpx
import pytest

from agentwrap.fakes.anthropic import (
    FakeAnthropic,
    RawBlock,
    Reply,
    Text,
    Thinking,
    ToolUse,
)

KEY = "sk-ant-test-key"
ASK = {
    "model": "claude-opus-4-8",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}


def client(fake: FakeAnthropic, base: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base or fake.base_url, api_key=KEY, max_retries=0)


def sse(raw: bytes) -> list[tuple[str, dict]]:
    """Parse an SSE byte stream into (event, data) pairs, strictly."""
    events = []
    for frame in raw.decode().split("\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == name_line[len("event: ") :]
        events.append((data["type"], data))
    return events


def test_non_streaming_text_with_usage_and_the_request_recorded() -> None:
    reply = Reply("Hello there", input_tokens=42, output_tokens=7, cache_read_input_tokens=5)
    with FakeAnthropic([reply]) as fake:
        message = client(fake).messages.create(**ASK)
    assert [b.text for b in message.content if b.type == "text"] == ["Hello there"]
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-opus-4-8"  # echoes the requested model
    assert (message.usage.input_tokens, message.usage.output_tokens) == (42, 7)
    assert message.usage.cache_read_input_tokens == 5
    (request,) = fake.requests
    assert (request.method, request.path, request.endpoint) == ("POST", "/v1/messages", "messages")
    # SDK 2.x sends the key as a bearer token; older ones and Claude Code as x-api-key.
    assert KEY in (request.headers.get("x-api-key") or request.headers["authorization"])
    assert request.body == ASK
    assert json.loads(request.raw) == ASK


def test_streaming_text_matches_the_real_event_sequence() -> None:
    with FakeAnthropic(
        [Reply("The quick brown fox jumps over the lazy dog", output_tokens=9)]
    ) as fake:
        response = httpx.post(
            fake.base_url + "/v1/messages",
            json=ASK | {"stream": True},
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.content)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-4:] == [
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert len(deltas) > 1 and "".join(deltas) == "The quick brown fox jumps over the lazy dog"
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"]["output_tokens"] == 9


def test_sdk_assembles_tool_use_thinking_and_text_from_the_stream() -> None:
    tool_input = {"command": "ls -la", "description": "List files", "nested": {"a": [1, 2, 3]}}
    reply = Reply(
        [
            Thinking("Let me look at the files first.", signature="c2lnbmF0dXJl"),
            Text("Listing files."),
            ToolUse("Bash", tool_input, id="toolu_01ABC"),
        ]
    )
    with FakeAnthropic([reply]) as fake, client(fake).messages.stream(**ASK) as stream:
        message = stream.get_final_message()
    thinking, text, tool = message.content
    assert thinking.type == "thinking" and thinking.thinking == "Let me look at the files first."
    assert thinking.signature == "c2lnbmF0dXJl"
    assert text.type == "text" and text.text == "Listing files."
    assert tool.type == "tool_use" and (tool.id, tool.name) == ("toolu_01ABC", "Bash")
    assert tool.input == tool_input
    assert message.stop_reason == "tool_use"


def test_tool_input_arrives_as_input_json_deltas_and_ids_are_generated() -> None:
    reply = Reply([ToolUse("Read", {"file_path": "/repo/app.py" * 5})])
    with FakeAnthropic([reply, reply]) as fake:
        raw = httpx.post(fake.base_url + "/v1/messages", json=ASK | {"stream": True}).content
        again = client(fake).messages.create(**ASK)
    events = sse(raw)
    start = next(d for n, d in events if n == "content_block_start")["content_block"]
    assert start["input"] == {} and start["id"].startswith("toolu_")
    pieces = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert len(pieces) > 1 and json.loads("".join(pieces)) == {"file_path": "/repo/app.py" * 5}
    assert again.content[0].id != start["id"]  # each reply gets a fresh id


def test_raw_block_is_sent_whole() -> None:
    block = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "x"},
    }
    with FakeAnthropic([Reply([RawBlock(block), Text("done")])]) as fake:
        message = client(fake).messages.create(**ASK)
    assert message.content[0].type == "server_tool_use"
    assert message.content[0].input == {"query": "x"}


@pytest.mark.parametrize(
    ("status", "kind", "exc"),
    [
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.APIStatusError),
        (401, "authentication_error", anthropic.AuthenticationError),
    ],
)
def test_http_errors_carry_the_anthropic_error_body(status: int, kind: str, exc: type) -> None:
    reply = Reply.error(status, "try later", headers={"retry-after": "3"})
    with FakeAnthropic([reply]) as fake, pytest.raises(exc) as raised:
        client(fake).messages.create(**ASK)
    error = raised.value
    assert error.status_code == status
    assert error.body == {"type": "error", "error": {"type": kind, "message": "try later"}}
    assert error.response.headers["retry-after"] == "3"


def test_prefix_and_beta_query_are_accepted_and_recorded() -> None:
    with FakeAnthropic(["ok", "beta ok"], prefix="/s/secret") as fake:
        assert fake.base_url.endswith("/s/secret")
        message = client(fake).beta.messages.create(**ASK, betas=["context-management-2025-06-27"])
        # Claude Code adds ?beta=true; the SDK no longer does.
        beta = httpx.post(fake.base_url + "/v1/messages?beta=true", json=ASK).json()
    assert message.content[0].text == "ok"
    assert beta["content"][0]["text"] == "beta ok"
    first, second = fake.requests
    assert first.path == "/s/secret/v1/messages"
    assert first.headers["anthropic-beta"] == "context-management-2025-06-27"
    assert (second.path, second.endpoint) == ("/s/secret/v1/messages?beta=true", "messages")


def test_count_tokens_and_models_do_not_consume_the_script() -> None:
    with FakeAnthropic(["first"], models=["claude-a", "claude-b"]) as fake:
        c = client(fake)
        small = c.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hi"}])
        big = c.messages.count_tokens(
            model="m", messages=[{"role": "user", "content": "hi " * 400}]
        )
        models = c.models.list()
        message = c.messages.create(**ASK)
    assert 0 < small.input_tokens < big.input_tokens
    assert [m.id for m in models.data] == ["claude-a", "claude-b"]
    assert message.content[0].text == "first"
    assert [r.endpoint for r in fake.requests] == [
        "count_tokens",
        "count_tokens",
        "models",
        "messages",
    ]
    assert len(fake.message_requests) == 1


def test_callable_script_sees_body_and_headers() -> None:
    seen = []

    def script(body: dict, headers: dict) -> str:
        seen.append(
            (body["messages"][-1]["content"], headers.get("x-api-key") or headers["authorization"])
        )
        return f"you said {body['messages'][-1]['content']}"

    with FakeAnthropic(script) as fake:
        c = client(fake)
        first = c.messages.create(**ASK)
        second = c.messages.create(**ASK | {"messages": [{"role": "user", "content": "again"}]})
    assert (first.content[0].text, second.content[0].text) == ("you said hi", "you said again")
    assert [text for text, _ in seen] == ["hi", "again"]
    assert all(KEY in auth for _, auth in seen)


def test_exhausted_script_is_a_400_unless_a_default_is_given() -> None:
    with FakeAnthropic(["only one"]) as fake:
        c = client(fake)
        c.messages.create(**ASK)
        with pytest.raises(anthropic.BadRequestError, match="no reply for messages call #2"):
            c.messages.create(**ASK)
    with FakeAnthropic([], default="fallback") as fake:
        assert client(fake).messages.create(**ASK).content[0].text == "fallback"


def test_hold_after_sends_the_first_events_then_waits_for_release() -> None:
    release = threading.Event()
    arrivals: list[tuple[str, float]] = []
    with FakeAnthropic([Reply("held reply", hold_after=1, release=release)]) as fake:

        def read() -> None:
            with httpx.stream(
                "POST", fake.base_url + "/v1/messages", json=ASK | {"stream": True}
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        arrivals.append((line[7:], time.monotonic()))

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 5
        while not arrivals and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # time for anything unheld to arrive
        assert [name for name, _ in arrivals] == ["message_start"]
        released_at = time.monotonic()
        release.set()
        reader.join(5)
    names = [name for name, _ in arrivals]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert all(at >= released_at for _, at in arrivals[1:])


def test_delays_before_headers_and_between_events() -> None:
    reply = Reply("a b c d", first_byte_delay=0.3, event_delay=0.05)
    with FakeAnthropic([reply]) as fake:
        started = time.monotonic()
        with httpx.stream("POST", fake.base_url + "/v1/messages", json=ASK | {"stream": True}) as r:
            headers_at = time.monotonic() - started
            count = sum(1 for line in r.iter_lines() if line.startswith("event: "))
        total = time.monotonic() - started
    assert headers_at >= 0.3
    assert total >= 0.3 + (count - 1) * 0.05


def test_gzip_streams_decode_event_by_event_and_json_too() -> None:
    with FakeAnthropic([Reply("squeezed", gzip=True), Reply("squeezed json", gzip=True)]) as fake:
        with httpx.stream("POST", fake.base_url + "/v1/messages", json=ASK | {"stream": True}) as r:
            assert r.headers["content-encoding"] == "gzip"
            raw = b"".join(r.iter_raw())
        message = client(fake).messages.create(**ASK)
    assert raw[:2] == b"\x1f\x8b"
    events = sse(gzip.decompress(raw))
    assert events[-1][0] == "message_stop"
    assert (
        "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == "squeezed"
    )
    assert message.content[0].text == "squeezed json"  # the SDK decompresses transparently


def test_stream_error_event_replaces_the_end_of_the_stream() -> None:
    with FakeAnthropic([Reply("partial", stream_error=("overloaded_error", "Overloaded"))]) as fake:
        raw = httpx.post(fake.base_url + "/v1/messages", json=ASK | {"stream": True}).content
    events = sse(raw)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    assert "message_stop" not in [n for n, _ in events]


def test_drop_after_cuts_the_connection_mid_stream() -> None:
    received: list[str] = []
    with (
        FakeAnthropic([Reply("cut short", drop_after=3)]) as fake,
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", fake.base_url + "/v1/messages", json=ASK | {"stream": True}) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("event: "):
                received.append(line[7:])
    assert received == ["message_start", "content_block_start", "ping"]


def test_unknown_path_is_404_and_wait_for_requests_times_out() -> None:
    with FakeAnthropic([]) as fake:
        response = httpx.get(fake.base_url + "/v2/nothing")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
        with pytest.raises(TimeoutError):
            fake.wait_for_requests(1, timeout=0.2)


async def test_async_mode_runs_on_the_test_loop() -> None:
    async with FakeAnthropic(["async hello"]) as fake:
        c = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key=KEY, max_retries=0)
        async with c.messages.stream(**ASK) as stream:
            message = await stream.get_final_message()
        await c.close()
    assert message.content[0].text == "async hello"
    assert fake.requests[0].body["stream"] is True


def test_a_script_that_raises_answers_400_and_keeps_the_exception() -> None:
    def script(body: dict, headers: dict) -> str:
        raise KeyError("no such step")

    with (
        FakeAnthropic(script) as fake,
        pytest.raises(anthropic.BadRequestError, match="no such step"),
    ):
        client(fake).messages.create(**ASK)
    assert [type(e) for e in fake.script_errors] == [KeyError]
