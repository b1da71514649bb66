"""A fake Anthropic Messages API, scripted with Anthropic's own vocabulary of blocks and usage.

Tests point a real client (the `anthropic` SDK, the Claude Code CLI, agentwrap's proxy) at
`fake.base_url` and script what the "model" answers, one reply per `POST .../v1/messages`::

    with FakeAnthropic(script=["Hello!", Reply([ToolUse("Bash", {"command": "ls"})])]) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test")
        client.messages.create(...)
        assert fake.requests[0].body["model"] == "claude-sonnet-4-5"

    async with FakeAnthropic(script=[...]) as fake:   # on the test's own event loop
        ...

A string in the script is a text reply; a callable script is asked `(body, headers)` for every
messages call (see `FakeProvider` for the rest). Served under any path prefix, with or
without a query such as `?beta=true`: `POST …/v1/messages` (SSE when the body says
`"stream": true`, in the real API's event order), `POST …/v1/messages/count_tokens` (an
estimate) and `GET …/v1/models` (`models=`); anything else is a 404 `not_found_error`.

A `Reply` can also be an HTTP error with an Anthropic error body (`Reply.error(429)`), wait
before the response headers (`first_byte_delay`) or between SSE events (`event_delay`), send
the first N events and then wait for a `threading.Event` (`hold_after`, `release`), gzip the
response (`gzip=True`), end a stream with an `error` event (`stream_error`) or cut the
connection after N events (`drop_after`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentwrap.fakes.content import (
    Answer,
    Block,
    RawBlock,
    Text,
    Thinking,
    Tokens,
    ToolUse,
    estimate_tokens,
)
from agentwrap.fakes.formats import ANTHROPIC, format_for
from agentwrap.fakes.formats.anthropic import ERROR_TYPES
from agentwrap.fakes.provider import FakeProvider, Script
from agentwrap.fakes.server import Delivery, Outcome, Received, Scripted

__all__ = [
    "DEFAULT_MODELS",
    "ERROR_TYPES",
    "FakeAnthropic",
    "RawBlock",
    "Reply",
    "Text",
    "Thinking",
    "ToolUse",
]

DEFAULT_MODELS = ("claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5-20251001")


@dataclass
class Reply:
    """One scripted answer to a messages call, in the Messages API's words.

    Token counts left as None are estimated: input from the request body's size, output from
    the reply's content. `stop_reason` defaults to "tool_use" when a ToolUse block is present,
    else "end_turn". `model` defaults to the model the request asked for.
    """

    content: str | Sequence[Block] = ""
    stop_reason: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    first_byte_delay: float = 0.0
    event_delay: float = 0.0
    hold_after: int | None = None
    release: threading.Event | None = None
    hold_timeout: float = 30.0
    gzip: bool = False
    stream_error: tuple[str, str] | None = None  # (error type, message)
    drop_after: int | None = None

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        first_byte_delay: float = 0.0,
    ) -> Reply:
        """An HTTP error with the real API's error body (type chosen from the status)."""
        return cls(
            status=status,
            error_type=error_type or ERROR_TYPES.get(status, "api_error"),
            error_message=message or f"fake upstream error {status}",
            headers=dict(headers or {}),
            first_byte_delay=first_byte_delay,
        )

    def blocks(self) -> list[Block]:
        """The content as a list of blocks (a plain string is one Text block)."""
        if isinstance(self.content, str):
            return [Text(self.content)] if self.content else []
        return list(self.content)

    def error_body(self) -> dict[str, Any]:
        """The JSON body of an error reply."""
        message = self.error_message or f"fake upstream error {self.status}"
        return format_for(ANTHROPIC).error(self.status, message, self.error_type)

    def outcome(self, request: Received, number: int) -> Outcome:
        """The answer to `request`: the model it asked for and token counts estimated from it."""
        blocks = self.blocks()
        model = self.model or request.model or "claude-fake"
        output = self.output_tokens
        if output is None:
            output = sum(estimate_tokens(_said(b)) for b in blocks) or 1
        tokens = Tokens(
            input=self.input_tokens if self.input_tokens is not None else max(1, request.size // 4),
            output=output,
            cache_read=self.cache_read_input_tokens,
            cache_write=self.cache_creation_input_tokens,
        )
        answer = Answer(
            model, tuple(blocks), tokens, id=f"fake_{number:04d}", stop=self.stop_reason
        )
        kind, text = self.stream_error or (None, None)
        delivery = Delivery(
            status=self.status,
            error=self.error_message,
            error_kind=self.error_type,
            headers=self.headers,
            first_byte_delay=self.first_byte_delay,
            event_delay=self.event_delay,
            hold_after=self.hold_after,
            release=self.release,
            hold_timeout=self.hold_timeout,
            gzip=self.gzip,
            stream_error=text,
            stream_error_kind=kind,
            drop_after=self.drop_after,
        )
        return Outcome(answer, delivery)


def _said(block: Block) -> Any:
    """What a block says, for estimating its tokens."""
    match block:
        case Text():
            return block.text
        case Thinking():
            return block.thinking
        case ToolUse():
            return {"name": block.name, "input": dict(block.input)}
        case RawBlock():
            return dict(block.block)


class FakeAnthropic(FakeProvider):
    """A real HTTP server on 127.0.0.1 playing the Anthropic Messages API (see module doc)."""

    def __init__(
        self,
        script: Script = (),
        *,
        default: Scripted | str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        prefix: str = "",
        port: int = 0,
        keep_bodies: bool = True,
    ) -> None:
        """`prefix` only shapes `base_url`; every path prefix is accepted anyway."""
        super().__init__(
            ANTHROPIC,
            script,
            default=default,
            models=models,
            prefix=prefix,
            port=port,
            keep_bodies=keep_bodies,
        )

    @property
    def message_requests(self) -> list[Received]:
        """Only the `POST .../v1/messages` requests, in arrival order."""
        return self.generating()

    def reply_for_text(self, text: str) -> Scripted:
        """A plain string is a text reply, its tokens estimated."""
        return Reply(text)
