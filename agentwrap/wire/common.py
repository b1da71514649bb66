"""Pieces shared by the surfaces: token usage, error kinds by status, ids, usage arithmetic."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Token counts as an agent's API reports them (input excludes cache tokens)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        """The counts of two calls together."""
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_tokens + other.cache_creation_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )

    @property
    def total(self) -> int:
        """Every token counted, cache reads and writes included."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_tokens
            + self.cache_read_tokens
        )


@dataclass
class TapReading:
    """What a usage tap has read so far from one answer it forwards untouched."""

    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    stop_reason: str | None = None
    finish: str | None = None  # a raw finish reason (Chat, Gemini), mapped once the answer ends
    counts: dict[str, int] = field(default_factory=dict)  # cumulative counts (Anthropic)


# Canonical error kinds are Anthropic's error types.
_KIND_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    501: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STATUS_BY_KIND = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "timeout_error": 504,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def kind_for_status(status: int) -> str:
    """The canonical error kind for an HTTP status."""
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def status_for_kind(kind: str | None) -> int:
    """The HTTP status that goes with a canonical error kind."""
    return _STATUS_BY_KIND.get(kind or "", 500)


def new_id(prefix: str) -> str:
    """A fresh opaque id such as msg_… or call_…."""
    return prefix + secrets.token_hex(12)


def as_int(value: Any) -> int:
    """An integer count from a usage field that may be missing or null."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def prompt_total(usage: Usage) -> int:
    """All input tokens, cache included (OpenAI / Gemini semantics)."""
    return usage.input_tokens + usage.cache_read_tokens + usage.cache_creation_tokens


def from_inclusive(prompt: int, cached: int, output: int) -> Usage:
    """Usage from counts whose prompt total includes cached tokens (never negative)."""
    cached = max(0, min(cached, prompt))
    return Usage(input_tokens=prompt - cached, output_tokens=output, cache_read_tokens=cached)
