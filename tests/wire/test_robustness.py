"""Malformed or unexpected upstream bytes never raise inside a stream translator."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap.fakes.provider import Call, Reply, stream_bytes
from agentwrap.wire import translate as t

APIS = ["anthropic", "openai-chat", "openai-responses", "gemini"]
PAIRS = [(s, d) for s, d in itertools.product(APIS, APIS) if s != d]

KEYS = [
    "type",
    "index",
    "delta",
    "content_block",
    "message",
    "choices",
    "usage",
    "error",
    "response",
    "item",
    "output_index",
    "candidates",
    "content",
    "parts",
    "text",
    "functionCall",
    "tool_calls",
    "finish_reason",
    "finishReason",
    "id",
    "name",
    "arguments",
    "thoughtSignature",
    "thought",
    "usageMetadata",
    "output",
    "status",
]
TYPES = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "error",
    "ping",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "signature_delta",
    "tool_use",
    "thinking",
    "text",
    "response.created",
    "response.output_item.added",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.output_item.done",
    "response.completed",
    "response.failed",
    "function_call",
    "reasoning",
    "message",
]
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 5), st.sampled_from(TYPES), st.text(max_size=8)
)
values = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)
events = st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=6), max_size=12)


# One drawn stream is fed to every pair (or tap): drawing the events costs far more than
# translating them, so each pair sees more streams than when each drew its own.
@settings(max_examples=80, deadline=None)
@given(evs=events, junk=st.binary(max_size=40))
def test_random_events_never_raise(evs: list, junk: bytes) -> None:
    data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in evs) + junk
    for src, dst in PAIRS:
        with _naming(f"{src} → {dst}"):
            tr = t.StreamTranslator(src, dst, "m")
            out = tr.feed(data) + tr.close()
            assert isinstance(out, bytes)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@settings(max_examples=20, deadline=None)
@given(st.data())
def test_truncated_real_streams_never_raise(src: str, dst: str, data: st.DataObject) -> None:
    raw = stream_bytes(src, Reply(text="abc", reasoning="r", tool_calls=[Call("f", {"a": 1})]))
    cut = data.draw(st.integers(0, len(raw)))
    tr = t.StreamTranslator(src, dst, "m")
    out = tr.feed(raw[:cut]) + tr.close()
    assert out  # at least a terminating error event in the agent's format


@pytest.mark.parametrize("api", APIS)
@settings(max_examples=40, deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(KEYS + ["messages", "input", "contents", "tools", "system", "model"]),
        values,
        max_size=6,
    )
)
def test_odd_request_bodies_raise_only_translation_errors(api: str, body: dict) -> None:
    for dst in APIS:
        if dst == api:
            continue
        with contextlib.suppress(t.TranslationError):
            t.translate_request(body, api, dst, "m")


@settings(max_examples=80, deadline=None)
@given(evs=events)
def test_usage_tap_never_raises(evs: list) -> None:
    from agentwrap.wire.usage import UsageTap

    for api, stream in itertools.product(APIS, (True, False)):
        with _naming(f"{api}, stream={stream}"):
            tap = UsageTap(api, stream)
            if stream:
                for e in evs:
                    tap.feed(b"data: " + json.dumps(e).encode() + b"\n\n")
            else:
                tap.feed(json.dumps(evs[0] if evs else {}).encode())
            tap.finish()


@contextlib.contextmanager
def _naming(case: str) -> Iterator[None]:
    """Name the pair or tap an exception came from: the drawn input is shared by all of them."""
    try:
        yield
    except Exception as exc:
        exc.add_note(f"while feeding {case}")
        raise
