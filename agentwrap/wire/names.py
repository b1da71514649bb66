"""Tool names a provider would reject, mapped to names it accepts and restored on the way back.

OpenAI limits function names to 64 characters of [a-zA-Z0-9_-]; Gemini to 64 of
[a-zA-Z0-9_.:-] starting with a letter or underscore. MCP tools often exceed that. The short
name is deterministic (a prefix plus a hash of the original), so the same tool maps to the same
name on every turn, and a process-wide table remembers how to restore it in the response.
Custom (free-form) tools of the Responses API are remembered the same way, so an answer from
another API can be turned back into a custom tool call; so are a Responses namespace's tools
(sent to other APIs under one flat name) and client-run tool search tools.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict

_LIMIT = 64
_PATTERNS = {
    "openai-chat": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
    "openai-responses": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
    "gemini": re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$"),
    "anthropic": re.compile(r"^[A-Za-z0-9_-]{1,128}$"),
}
_BAD = re.compile(r"[^A-Za-z0-9_-]")
_MAX_REMEMBERED = 4096


class ToolNames:
    """A bounded table: provider-safe name -> original name, and which tools are custom."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._restore: OrderedDict[str, str] = OrderedDict()
        self._custom: OrderedDict[str, None] = OrderedDict()
        self._namespaced: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._searches: OrderedDict[str, None] = OrderedDict()

    def to_provider(self, name: str, api: str) -> str:
        """The name to send to API `api` for tool `name` (unchanged when already valid)."""
        pattern = _PATTERNS.get(api)
        if pattern is None or pattern.match(name):
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        cleaned = _BAD.sub("_", name)
        if not re.match(r"[A-Za-z_]", cleaned[:1]):
            cleaned = "t_" + cleaned
        short = f"{cleaned[: _LIMIT - 11]}_{digest}"
        with self._lock:
            self._restore[short] = name
            self._restore.move_to_end(short)
            while len(self._restore) > _MAX_REMEMBERED:
                self._restore.popitem(last=False)
        return short

    def from_provider(self, name: str) -> str:
        """The original name for a provider-safe name (unchanged when it was never mapped)."""
        with self._lock:
            return self._restore.get(name, name)

    def mark_custom(self, name: str) -> None:
        """Remember that `name` is a free-form (custom) tool of the Responses API."""
        with self._lock:
            self._custom[name] = None
            self._custom.move_to_end(name)
            while len(self._custom) > _MAX_REMEMBERED:
                self._custom.popitem(last=False)

    def is_custom(self, name: str) -> bool:
        """Whether `name` was declared as a custom tool in a request seen earlier."""
        with self._lock:
            return name in self._custom

    def mark_namespaced(self, flat: str, namespace: str, name: str) -> None:
        """Remember that the flat name `flat` stands for tool `name` of Responses `namespace`."""
        with self._lock:
            self._namespaced[flat] = (namespace, name)
            self._namespaced.move_to_end(flat)
            while len(self._namespaced) > _MAX_REMEMBERED:
                self._namespaced.popitem(last=False)

    def namespaced(self, flat: str) -> tuple[str, str] | None:
        """(namespace, name) of a flat name given to a namespace's tool, or None."""
        with self._lock:
            return self._namespaced.get(flat)

    def mark_tool_search(self, name: str) -> None:
        """Remember that `name` is a client-run tool search tool of the Responses API."""
        with self._lock:
            self._searches[name] = None
            self._searches.move_to_end(name)
            while len(self._searches) > _MAX_REMEMBERED:
                self._searches.popitem(last=False)

    def is_tool_search(self, name: str) -> bool:
        """Whether `name` was declared as a client-run tool search in a request seen earlier."""
        with self._lock:
            return name in self._searches


TOOL_NAMES = ToolNames()
