"""Usage taps: token counts, model and stop reason read from a response as its bytes pass.

Used on same-API traffic, which is forwarded untouched, so it sits on the hot path: complete
events are scanned with one regular expression per chunk and only the few lines that can carry
usage, a stop reason or the model are JSON-decoded.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from agentwrap.wire import anthropic, gemini, openai_chat, openai_responses
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.common import Usage

# Markers of the data lines worth decoding, per API (the rest is text and argument deltas).
_MARKERS: dict[str, tuple[bytes, ...]] = {
    ANTHROPIC: (b'"message_start"', b'"message_delta"'),
    OPENAI_CHAT: (b'"usage"', b'"finish_reason":"', b'"finish_reason": "'),
    OPENAI_RESPONSES: (
        b'"response.created"',
        b'"response.completed"',
        b'"response.incomplete"',
        b'"response.failed"',
    ),
    GEMINI: (b'"usageMetadata"', b'"finishReason"'),
}
_FIRST_DATA = re.compile(rb"^data: ?(.*?)\r?$", re.M)
_CALL_MARKERS = {OPENAI_CHAT: b'"tool_calls"', GEMINI: b'"functionCall"'}
_RESPONSES_END = ("response.completed", "response.incomplete", "response.failed")
_SURFACES: dict[str, Any] = {
    ANTHROPIC: anthropic,
    OPENAI_CHAT: openai_chat,
    OPENAI_RESPONSES: openai_responses,
    GEMINI: gemini,
}


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
        self._buf = bytearray()
        self._calls = False
        self._finish: str | None = None
        self._fields: dict[str, int] = {}
        self._markers = _MARKERS.get(api, ())

    def feed(self, chunk: bytes) -> None:
        """Raw response bytes as they pass (SSE when streaming, JSON otherwise)."""
        self._buf += chunk
        if not self.stream:
            return
        end = self._buf.rfind(b"\n")
        if end < 0:
            return
        block = bytes(self._buf[: end + 1])
        del self._buf[: end + 1]
        self._scan(block)

    def finish(self) -> None:
        """The body has ended."""
        if not self.stream:
            with contextlib.suppress(TypeError, AttributeError, KeyError, IndexError, ValueError):
                self._whole(json.loads(bytes(self._buf)))
            return
        if self._buf:
            self._scan(bytes(self._buf) + b"\n")
            self._buf.clear()
        if self._finish is not None:
            if self.api == OPENAI_CHAT:
                self.stop_reason = openai_chat.stop_from_finish(self._finish, self._calls)
            elif self.api == GEMINI:
                self.stop_reason = gemini.stop_from_finish(self._finish, self._calls)

    # ---------------------------------------------------------------- scanning

    def _scan(self, block: bytes) -> None:
        marker = _CALL_MARKERS.get(self.api)
        if marker is not None and not self._calls and marker in block:
            self._calls = True
        if self.model is None and self.api in (OPENAI_CHAT, GEMINI):
            first = _FIRST_DATA.search(block)
            if first:
                self._line(first.group(1))
        # bytes.find runs in C: only the lines around a marker are looked at in Python.
        seen: set[int] = set()
        for needle in self._markers:
            pos = block.find(needle)
            while pos >= 0:
                start = block.rfind(b"\n", 0, pos) + 1
                end = block.find(b"\n", pos)
                end = len(block) if end < 0 else end
                if start not in seen and block.startswith(b"data:", start):
                    seen.add(start)
                    self._line(block[start + 5 : end].strip())
                pos = block.find(needle, end)

    def _line(self, data: bytes) -> None:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(doc, dict):
            return
        handler = {
            ANTHROPIC: self._anthropic,
            OPENAI_CHAT: self._chat,
            OPENAI_RESPONSES: self._responses,
        }.get(self.api, self._gemini)
        # The tap watches traffic it does not own: an odd event must never break the relay.
        with contextlib.suppress(TypeError, AttributeError, KeyError, IndexError, ValueError):
            handler(doc)

    def _anthropic(self, ev: dict[str, Any]) -> None:
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

    def _chat(self, chunk: dict[str, Any]) -> None:
        self.model = self.model or chunk.get("model")
        if isinstance(chunk.get("usage"), dict):
            self.usage = openai_chat.parse_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
                self._finish = choice["finish_reason"]

    def _responses(self, ev: dict[str, Any]) -> None:
        resp = ev.get("response") or {}
        self.model = resp.get("model") or self.model
        if ev.get("type") in _RESPONSES_END:
            if isinstance(resp.get("usage"), dict):
                self.usage = openai_responses.parse_usage(resp["usage"])
            if ev.get("type") != "response.failed":
                self.stop_reason = openai_responses.parse_response(resp).stop_reason

    def _gemini(self, chunk: dict[str, Any]) -> None:
        self.model = self.model or chunk.get("modelVersion")
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = gemini.parse_usage(chunk["usageMetadata"])
        for cand in chunk.get("candidates") or []:
            if isinstance(cand, dict) and isinstance(cand.get("finishReason"), str):
                self._finish = cand["finishReason"]

    # ---------------------------------------------------------------- whole bodies

    def _whole(self, body: Any) -> None:
        if isinstance(body, list) and body and self.api == GEMINI:
            body = body[-1]  # a JSON-array stream: the last element has the totals
        if not isinstance(body, dict) or body.get("type") == "error":
            return
        if body.get("error") and not any(k in body for k in ("choices", "output", "candidates")):
            return
        surface = _SURFACES.get(self.api)
        if surface is None:
            return
        resp = surface.parse_response(body)
        self.usage = resp.usage
        self.model = resp.model
        self.stop_reason = resp.stop_reason
