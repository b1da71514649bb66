"""UsageTap: token counts read from untranslated responses as their bytes pass."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap.fakes.provider import Call, Reply, stream_bytes, whole_body
from agentwrap.wire.common import Usage
from agentwrap.wire.usage import UsageTap

APIS = ["anthropic", "openai-chat", "openai-responses", "gemini"]
USAGE = {"input": 12, "output": 345, "cache_read": 6789, "cache_write": 0}
WANT = Usage(input_tokens=12, output_tokens=345, cache_read_tokens=6789)


def feed_split(tap: UsageTap, data: bytes, cuts: list[int]) -> None:
    prev = 0
    for cut in sorted(set(cuts)):
        tap.feed(data[prev:cut])
        prev = cut
    tap.feed(data[prev:])
    tap.finish()


@pytest.mark.parametrize("api", APIS)
@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(0, 5000), max_size=30))
def test_streamed_usage(api: str, cuts: list[int]) -> None:
    reply = Reply(text="hello there", tool_calls=[Call("f", {"a": 1})], usage=USAGE)
    tap = UsageTap(api, stream=True)
    feed_split(tap, stream_bytes(api, reply), cuts)
    assert tap.usage == WANT
    assert tap.model == "fake-model-1"
    assert tap.stop_reason == "tool_use"


@pytest.mark.parametrize("api", APIS)
def test_whole_body_usage(api: str) -> None:
    tap = UsageTap(api, stream=False)
    body = json.dumps(whole_body(api, Reply(text="x", usage=USAGE))).encode()
    feed_split(tap, body, [3, 40])
    assert tap.usage == WANT
    assert tap.model == "fake-model-1"
    assert tap.stop_reason == "end_turn"


def test_anthropic_message_delta_repeats_are_not_added() -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "m",
            "model": "claude",
            "usage": {
                "input_tokens": 100,
                "output_tokens": 1,
                "cache_creation_input_tokens": 50,
                "cache_read_input_tokens": 2000,
            },
        },
    }
    delta1 = {
        "type": "message_delta",
        "delta": {"stop_reason": None},
        "usage": {"output_tokens": 40},
    }
    delta2 = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {
            "input_tokens": 100,
            "output_tokens": 90,
            "cache_creation_input_tokens": 50,
            "cache_read_input_tokens": None,
        },
    }
    data = b"".join(
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in (start, delta1, delta2)
    )
    tap = UsageTap("anthropic", stream=True)
    tap.feed(data)
    tap.finish()
    assert tap.usage == Usage(100, 90, 50, 2000)
    assert tap.stop_reason == "end_turn"


def test_error_bodies_leave_usage_empty() -> None:
    tap = UsageTap("openai-chat", stream=False)
    tap.feed(b'{"error": {"message": "bad", "type": "invalid_request_error"}}')
    tap.finish()
    assert tap.usage == Usage() and tap.stop_reason is None
    html = UsageTap("anthropic", stream=False)
    html.feed(b"<html>502</html>")
    html.finish()
    assert html.usage == Usage()
