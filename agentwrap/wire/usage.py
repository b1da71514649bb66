"""Usage taps: token counts, model and stop reason read from a response as its bytes pass.

Used on same-API traffic, which is forwarded untouched. Only the few events that carry usage
are JSON-decoded, so a long stream costs little more than scanning its lines.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from agentwrap.pricing import Usage
from agentwrap.wire import anthropic, gemini, openai_chat, openai_responses
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.sse import SSEDecoder

_FINISH_NULL = re.compile(r'"finish_reason"\s*:\s*null')
_RESPONSES_END = ("response.completed", "response.incomplete", "response.failed")


class UsageTap:
    """Reads usage, model and stop reason from one response without changing it.

    `usage` follows Anthropic semantics: input excludes cache reads and writes.
    """

    def __init__(self, api: str, stream: bool) -> None:
        self.api = api
        self.stream = stream
        self.usage = Usage()
        self.model: str | None = None
        self.stop_reason: str | None = None
        self._decoder = SSEDecoder() if stream else None
        self._body = bytearray()
        self._tools = False
        self._finish: str | None = None
        self._fields: dict[str, int] = {}

    def feed(self, chunk: bytes) -> None:
        """Raw response bytes as they pass (SSE when streaming, JSON otherwise)."""
        if self._decoder is None:
            self._body += chunk
            return
        for event, data in self._decoder.feed(chunk):
            self._event(event, data)

    def finish(self) -> None:
        """The body has ended."""
        if self._decoder is not None:
            for event, data in self._decoder.close():
                self._event(event, data)
            if self.api == OPENAI_CHAT and self._finish is not None:
                self.stop_reason = openai_chat.stop_from_finish(self._finish, self._tools)
            if self.api == GEMINI and self._finish is not None:
                self.stop_reason = gemini.stop_from_finish(self._finish, self._tools)
            return
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            self._whole(json.loads(bytes(self._body)))

    # ---------------------------------------------------------------- whole bodies

    def _whole(self, body: Any) -> None:
        if isinstance(body, list) and body and self.api == GEMINI:
            body = body[-1]
        if not isinstance(body, dict) or (body.get("error") and body.get("type") != "message"):
            return
        surface: Any = {
            ANTHROPIC: anthropic,
            OPENAI_CHAT: openai_chat,
            OPENAI_RESPONSES: openai_responses,
            GEMINI: gemini,
        }.get(self.api)
        if surface is None:
            return
        resp = surface.parse_response(body)
        self.usage = resp.usage
        self.model = resp.model
        self.stop_reason = resp.stop_reason

    # ---------------------------------------------------------------- stream events

    def _event(self, event: str | None, data: str) -> None:
        if self.api == ANTHROPIC:
            self._anthropic(event, data)
        elif self.api == OPENAI_CHAT:
            self._chat(data)
        elif self.api == OPENAI_RESPONSES:
            self._responses(event, data)
        elif self.api == GEMINI:
            self._gemini(data)

    @staticmethod
    def _load(data: str) -> dict[str, Any] | None:
        try:
            value = json.loads(data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _anthropic(self, event: str | None, data: str) -> None:
        if event is not None and event not in ("message_start", "message_delta"):
            return
        if event is None and '"message_' not in data:
            return
        ev = self._load(data)
        if ev is None:
            return
        if ev.get("type") == "message_start":
            msg = ev.get("message") or {}
            self.model = msg.get("model") or self.model
            self._absorb(msg.get("usage"))
        elif ev.get("type") == "message_delta":
            self._absorb(ev.get("usage"))
            self.stop_reason = (ev.get("delta") or {}).get("stop_reason") or self.stop_reason

    def _absorb(self, usage: Any) -> None:
        # Later counts replace earlier ones: message_delta repeats cumulative values.
        if not isinstance(usage, dict):
            return
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                self._fields[key] = value
        f = self._fields
        self.usage = Usage(
            f.get("input_tokens", 0),
            f.get("output_tokens", 0),
            f.get("cache_creation_input_tokens", 0),
            f.get("cache_read_input_tokens", 0),
        )

    def _chat(self, data: str) -> None:
        if '"tool_calls"' in data:
            self._tools = True
        wanted = (
            self.model is None
            or '"usage"' in data
            or ('"finish_reason"' in data and not _FINISH_NULL.search(data))
        )
        if not wanted:
            return
        chunk = self._load(data)
        if chunk is None:
            return
        self.model = self.model or chunk.get("model")
        if isinstance(chunk.get("usage"), dict):
            self.usage = openai_chat.parse_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    def _responses(self, event: str | None, data: str) -> None:
        if event is not None and event not in (*_RESPONSES_END, "response.created"):
            return
        if event is None and not any(
            name in data for name in (*_RESPONSES_END, "response.created")
        ):
            return
        ev = self._load(data)
        if ev is None:
            return
        resp = ev.get("response") or {}
        self.model = resp.get("model") or self.model
        if ev.get("type") in _RESPONSES_END:
            if isinstance(resp.get("usage"), dict):
                self.usage = openai_responses.parse_usage(resp["usage"])
            if ev.get("type") != "response.failed":
                self.stop_reason = openai_responses.parse_response(resp).stop_reason

    def _gemini(self, data: str) -> None:
        if '"functionCall"' in data:
            self._tools = True
        if (
            self.model is not None
            and '"usageMetadata"' not in data
            and '"finishReason"' not in data
        ):
            return
        chunk = self._load(data)
        if chunk is None:
            return
        self.model = self.model or chunk.get("modelVersion")
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = gemini.parse_usage(chunk["usageMetadata"])
        for cand in chunk.get("candidates") or []:
            if isinstance(cand, dict) and cand.get("finishReason"):
                self._finish = cand["finishReason"]
