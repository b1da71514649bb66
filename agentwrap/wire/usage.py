"""Usage taps: read token counts from a response as its bytes pass by (temporary, anthropic-first)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from agentwrap.pricing import Usage


class UsageTap:
    """Reads usage, model and stop reason from one response without changing it."""

    def __init__(self, api: str, stream: bool) -> None:
        self.api = api
        self.stream = stream
        self.usage = Usage()
        self.model: str | None = None
        self.stop_reason: str | None = None
        self._buf = bytearray()
        self._fields: dict[str, int] = {}

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk
        if not self.stream:
            return
        while True:
            idx = self._buf.find(b"\n")
            if idx < 0:
                return
            line = bytes(self._buf[:idx]).rstrip(b"\r")
            del self._buf[: idx + 1]
            # Only the few events that carry usage are parsed; content deltas pass untouched.
            if line.startswith(b"data:") and (
                b'"message_start"' in line or b'"message_delta"' in line
            ):
                self._event(line[5:].strip())

    def finish(self) -> None:
        if self.stream:
            if self._buf.strip().startswith(b"data:"):
                self._event(bytes(self._buf).strip()[5:].strip())
            self._buf.clear()
            return
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            self._message(json.loads(bytes(self._buf)))

    def _event(self, data: bytes) -> None:
        if not data or data == b"[DONE]":
            return
        try:
            ev = json.loads(data)
        except ValueError:
            return
        if not isinstance(ev, dict):
            return
        kind = ev.get("type")
        if kind == "message_start":
            self._message(ev.get("message") or {})
        elif kind == "message_delta":
            self._absorb(ev.get("usage") or {})
            self.stop_reason = (ev.get("delta") or {}).get("stop_reason") or self.stop_reason

    def _message(self, msg: dict[str, Any]) -> None:
        self.model = msg.get("model") or self.model
        self.stop_reason = msg.get("stop_reason") or self.stop_reason
        self._absorb(msg.get("usage") or {})

    def _absorb(self, usage: dict[str, Any]) -> None:
        # Later counts replace earlier ones (message_delta repeats cumulative values).
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ):
            value = usage.get(key)
            if isinstance(value, int):
                self._fields[key] = value
        f = self._fields
        self.usage = Usage(
            f.get("input_tokens", 0),
            f.get("output_tokens", 0),
            f.get("cache_creation_input_tokens", 0),
            f.get("cache_read_input_tokens", 0),
        )
